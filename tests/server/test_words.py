"""Decks and a classroom's own words (contract §8, with §2's conventions and §6's wordId).

The shipped deck (every id of the old web/js/deck.js kept), the deck routes for anyone
signed in, teachers adding, listing and editing their classrooms' words, what learners,
other teachers and sloppy bodies are refused, and the check lessons make on word ids.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.progress.schemas import WORD_ID_PATTERN, check_word_id
from server.settings import Settings
from server.words.catalog import DeckError, parse, shipped
from server.words.service import unknown_word_ids
from storage.database import Database
from tests.board_helpers import User, create_classroom, data_of, user
from tests.helpers import error_of

Client = AsyncTestClient[Litestar]

DECKS = "/api/v1/decks"
WORDS = "/api/teacher/words"
DECK_ID = "es-basics"

# Every word id of the deck the study page shipped in web/js/deck.js before the deck moved
# to the server, in its order, without the "es:" they all start with. Learners' progress
# is stored under these ids: each must stay in the deck, unchanged.
OLD_DECK_SLUGS = """
    hola adios gracias por-favor de-nada buenos-dias buenas-tardes buenas-noches hasta-luego
    hasta-manana perdon lo-siento si no bienvenido que-tal como-estas muy-bien mucho-gusto
    me-llamo con-permiso salud claro tal-vez senor senora cero uno dos tres cuatro cinco seis
    siete ocho nueve diez once doce quince veinte treinta cincuenta cien mil primero ultimo rojo
    azul verde amarillo negro blanco gris naranja morado rosa marron dorado plateado celeste
    madre padre padres hermano hermana hijo hija abuelo abuela nieto nieta tio tia primo prima
    esposo esposa bebe familia amigo pan agua leche cafe te jugo vino queso huevo carne pollo
    pescado arroz frijoles sopa ensalada manzana platano fresa uva limon tomate papa cebolla
    zanahoria azucar sal mantequilla chocolate pastel helado desayuno almuerzo cena perro gato
    caballo vaca cerdo oveja pajaro pez raton conejo leon tigre oso elefante mono serpiente
    tortuga pato gallina lobo mariposa arana lunes martes miercoles jueves viernes sabado
    domingo hoy manana ayer dia semana mes ano noche hora minuto ahora siempre nunca temprano
    tarde enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre
    diciembre escuela libro cuaderno lapiz boligrafo papel mesa silla maestro estudiante clase
    pizarra examen tarea pregunta respuesta palabra idioma leccion mochila biblioteca regla casa
    puerta ventana cocina bano dormitorio cama sofa llave lampara espejo techo suelo jardin
    escalera plato vaso cuchara tenedor cuchillo cabeza cara ojo oreja nariz boca diente pelo
    mano dedo brazo hombro espalda pierna rodilla pie corazon estomago camisa camiseta
    pantalones falda vestido zapatos calcetines sombrero abrigo chaqueta bufanda guantes
    cinturon gafas sol luna estrella cielo nube lluvia nieve viento calor arbol flor mar rio
    montana playa bosque lago tierra fuego primavera verano otono invierno ciudad pueblo calle
    plaza tienda mercado hospital banco iglesia parque restaurante hotel museo oficina puente
    aeropuerto estacion farmacia coche autobus tren avion bicicleta barco taxi metro moto camion
    medico enfermera policia bombero cocinero abogado ingeniero granjero artista cartero
    camarero dentista ser estar tener hacer ir venir comer beber hablar vivir escribir leer
    correr caminar dormir trabajar estudiar aprender ensenar jugar cantar bailar comprar vender
    abrir cerrar ver oir pensar saber conocer querer poder necesitar ayudar esperar dar decir
    llamar viajar grande pequeno bueno malo nuevo viejo joven alto bajo largo corto facil
    dificil rapido lento caliente frio bonito feo feliz triste cansado enfermo rico pobre limpio
    sucio lleno vacio abierto cerrado caro barato fuerte debil que quien donde cuando por-que
    como cuanto cual
"""
OLD_DECK_IDS = [f"es:{slug}" for slug in OLD_DECK_SLUGS.split()]
OLD_TOPICS = [
    "Greetings",
    "Numbers",
    "Colours",
    "Family",
    "Food & drink",
    "Animals",
    "Days & time",
    "School",
    "Home",
    "Body",
    "Clothing",
    "Nature & weather",
    "Places",
    "Transport",
    "Jobs",
    "Verbs",
    "Adjectives",
    "Questions",
]


async def get_deck(client: Client, who: User, deck_id: str = DECK_ID) -> dict[str, Any]:
    deck: dict[str, Any] = data_of(await client.get(f"{DECKS}/{deck_id}", headers=who.headers))
    return deck


async def add_word(
    client: Client, teacher: User, classroom_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"classroom_id": classroom_id, "term": "perro", "translation": "dog", **fields}
    word: dict[str, Any] = data_of(
        await client.post(WORDS, json=body, headers=teacher.headers), 201
    )
    return word


async def list_words(client: Client, teacher: User, classroom_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        WORDS, params={"classroom_id": classroom_id}, headers=teacher.headers
    )
    found: list[dict[str, Any]] = data_of(response)
    return found


def fields_named(error: dict[str, Any]) -> set[str]:
    return {field["field"] for field in error["details"]["fields"]}


# --- decks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["teacher", "learner"])
async def test_anyone_signed_in_lists_the_decks(client: Client, role: str) -> None:
    who = await user(client, role=role)
    decks = data_of(await client.get(DECKS, headers=who.headers))
    assert [deck["id"] for deck in decks] == [DECK_ID]
    (summary,) = decks
    assert set(summary) == {"id", "name", "word_count", "topics"}
    assert summary["name"]
    deck = await get_deck(client, who)
    assert summary["word_count"] == len(deck["words"])
    # Topics in the deck's order: the order in which its words first show them.
    assert summary["topics"] == list(dict.fromkeys(word["topic"] for word in deck["words"]))
    assert summary["topics"] == OLD_TOPICS


async def test_the_deck_keeps_every_old_word_id(client: Client) -> None:
    learner = await user(client, role="learner")
    deck = await get_deck(client, learner)
    assert set(deck) == {"id", "name", "words"}
    assert deck["id"] == DECK_ID
    ids = [word["id"] for word in deck["words"]]
    assert len(set(ids)) == len(ids)
    missing = [word_id for word_id in OLD_DECK_IDS if word_id not in ids]
    assert missing == []
    # New words may come later; the old ones keep their teaching order.
    assert [word_id for word_id in ids if word_id in set(OLD_DECK_IDS)] == OLD_DECK_IDS


async def test_deck_words_are_whole_and_in_the_wordid_form(client: Client) -> None:
    learner = await user(client, role="learner")
    words = (await get_deck(client, learner))["words"]
    assert words[0] == {
        "id": "es:hola",
        "term": "hola",
        "translation": "hello",
        "topic": "Greetings",
    }
    assert {"id": "es:perro", "term": "el perro", "translation": "dog", "topic": "Animals"} in words
    for word in words:
        assert set(word) == {"id", "term", "translation", "topic"}
        assert re.fullmatch(WORD_ID_PATTERN, word["id"]), word
        assert check_word_id(word["id"]) is None
        assert word["term"].strip()
        assert word["translation"].strip()
        assert word["topic"] in OLD_TOPICS


async def test_an_unknown_deck_is_404_and_signing_in_is_required(client: Client) -> None:
    learner = await user(client, role="learner")
    for deck_id in ("fr-basics", "ES-BASICS", "es-basics.json"):
        response = await client.get(f"{DECKS}/{deck_id}", headers=learner.headers)
        error_of(response, 404, "NOT_FOUND")
    error_of(await client.get(DECKS), 401, "UNAUTHORIZED")
    error_of(await client.get(f"{DECKS}/{DECK_ID}"), 401, "UNAUTHORIZED")


def test_the_deck_files_are_read_on_first_use_then_kept() -> None:
    """Building the app reads no deck file; the first read is kept for the process."""
    script = (
        "from server.app import create_app; from server.settings import Settings; "
        "from server.words import catalog; "
        "create_app(Settings(database_url='sqlite+aiosqlite:///:memory:', secret_key='k' * 32)); "
        "assert catalog.shipped.cache_info().currsize == 0; "
        "catalog.shipped(); catalog.shipped(); "
        "assert catalog.shipped.cache_info().hits == 1"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert shipped() is shipped()


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ([{"id": "c:abc", "term": "a", "translation": "b"}], "classroom words"),
        ([{"id": "es:a", "term": "a", "translation": "b"}] * 2, "appears twice"),
        ([{"id": "es a", "term": "a", "translation": "b"}], "words[0].id"),
        ([{"id": "stats", "term": "a", "translation": "b"}], "names a route"),
        ([{"id": "es:a", "term": "", "translation": "b"}], "term"),
    ],
)
def test_a_broken_deck_file_is_refused(words: list[dict[str, str]], problem: str) -> None:
    data = msgspec.json.encode({"id": "xx", "name": "X", "topics": [{"name": "T", "words": words}]})
    with pytest.raises(DeckError, match=re.escape(problem)):
        parse("xx.json", data)


def test_a_deck_file_must_be_named_after_its_deck() -> None:
    with pytest.raises(DeckError, match="file name"):
        parse("yy.json", b'{"id": "xx", "name": "X", "topics": []}')


# --- a classroom's own words -----------------------------------------------------------------


async def test_add_answers_the_word_with_a_fresh_wordid(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    response = await client.post(
        WORDS,
        json={"classroom_id": classroom["id"], "term": "el perro", "translation": "the dog"},
        headers=teacher.headers,
    )
    word = data_of(response, 201)
    assert set(word) == {"id", "classroom_id", "term", "translation", "topic"}
    assert word["classroom_id"] == classroom["id"]
    assert (word["term"], word["translation"], word["topic"]) == ("el perro", "the dog", None)
    with_topic = await add_word(client, teacher, classroom["id"], topic="Pets")
    assert with_topic["topic"] == "Pets"


async def test_word_ids_are_wordids_that_never_collide(client: Client) -> None:
    teacher = await user(client)
    rooms = [await create_classroom(client, teacher, f"Room {n}") for n in (1, 2)]
    # The same term twice, in one classroom and another: a new word, a new id, each time.
    added = [await add_word(client, teacher, r["id"]) for r in rooms for _ in range(10)]
    ids = [word["id"] for word in added]
    assert len(set(ids)) == len(ids)
    deck_ids = shipped().word_ids
    for word_id in ids:
        assert re.fullmatch(WORD_ID_PATTERN, word_id), word_id
        assert check_word_id(word_id) is None
        assert word_id not in deck_ids
        assert not word_id.startswith("es:")
    # A word id is a progress wordId: a learner can record progress under it.
    learner = await user(client, role="learner")
    response = await client.put(
        f"/api/v1/progress/{ids[0]}",
        json={"studyCount": 1, "correctCount": 1, "confidence": 4},
        headers=learner.headers,
    )
    assert data_of(response, 201)["wordId"] == ids[0]


async def test_text_is_trimmed(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    word = await add_word(
        client, teacher, classroom["id"], term="  gato ", translation=" cat\t", topic=" Pets "
    )
    assert (word["term"], word["translation"], word["topic"]) == ("gato", "cat", "Pets")


async def test_list_has_the_classrooms_words_oldest_first(client: Client) -> None:
    teacher = await user(client)
    mine, other = [await create_classroom(client, teacher, n) for n in ("A", "B")]
    assert await list_words(client, teacher, mine["id"]) == []
    first = await add_word(client, teacher, mine["id"], term="uno", translation="one")
    await add_word(client, teacher, other["id"], term="dos", translation="two")
    third = await add_word(client, teacher, mine["id"], term="tres", translation="three")
    assert await list_words(client, teacher, mine["id"]) == [first, third]


async def test_a_co_teacher_sees_and_edits_the_words(client: Client) -> None:
    teacher, hedy = await user(client), await user(client, name="Hedy")
    classroom = await create_classroom(client, teacher)
    word = await add_word(client, teacher, classroom["id"])
    code = classroom["teacher_join_code"]
    data_of(
        await client.post(
            "/api/teacher/classrooms/join", json={"join_code": code}, headers=hedy.headers
        )
    )
    assert await list_words(client, hedy, classroom["id"]) == [word]
    response = await client.patch(
        f"{WORDS}/{word['id']}", json={"topic": "Pets"}, headers=hedy.headers
    )
    assert data_of(response)["topic"] == "Pets"


async def test_patch_changes_only_what_it_names(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    word = await add_word(client, teacher, classroom["id"], topic="Pets")
    path = f"{WORDS}/{word['id']}"

    async def patch(body: dict[str, Any]) -> dict[str, Any]:
        changed: dict[str, Any] = data_of(
            await client.patch(path, json=body, headers=teacher.headers)
        )
        return changed

    assert await patch({"term": " el perro "}) == {**word, "term": "el perro"}
    assert await patch({"translation": "the dog"}) == {
        **word,
        "term": "el perro",
        "translation": "the dog",
    }
    expected = {**word, "term": "el perro", "translation": "the dog", "topic": "Animals"}
    assert await patch({"topic": "Animals"}) == expected
    assert await patch({}) == expected
    cleared = await patch({"topic": None})
    assert cleared == {**expected, "topic": None}
    assert await patch({"term": "perrito", "translation": "puppy", "topic": "Pets"}) == {
        **word,
        "term": "perrito",
        "translation": "puppy",
        "topic": "Pets",
    }
    (listed,) = await list_words(client, teacher, classroom["id"])
    assert listed["id"] == word["id"]  # the id never changes
    assert (listed["term"], listed["translation"], listed["topic"]) == ("perrito", "puppy", "Pets")


async def test_patch_of_an_unknown_or_a_deck_word_is_404(client: Client) -> None:
    teacher = await user(client)
    for word_id in ("c:nosuchword12", "es:hola", "x" * 300):
        response = await client.patch(
            f"{WORDS}/{word_id}", json={"term": "t"}, headers=teacher.headers
        )
        error_of(response, 404, "NOT_FOUND")


async def test_another_teachers_classroom_and_words_are_404(client: Client) -> None:
    owner, stranger = await user(client), await user(client, name="Eve")
    classroom = await create_classroom(client, owner)
    word = await add_word(client, owner, classroom["id"])
    for classroom_id in (classroom["id"], str(uuid.uuid4())):
        body = {"classroom_id": classroom_id, "term": "gato", "translation": "cat"}
        error_of(await client.post(WORDS, json=body, headers=stranger.headers), 404, "NOT_FOUND")
        response = await client.get(
            WORDS, params={"classroom_id": classroom_id}, headers=stranger.headers
        )
        error_of(response, 404, "NOT_FOUND")
    response = await client.patch(
        f"{WORDS}/{word['id']}", json={"term": "x"}, headers=stranger.headers
    )
    error_of(response, 404, "NOT_FOUND")
    assert await list_words(client, owner, classroom["id"]) == [word]


async def test_learners_are_forbidden(client: Client) -> None:
    teacher, learner = await user(client), await user(client, role="learner")
    classroom = await create_classroom(client, teacher)
    word = await add_word(client, teacher, classroom["id"])
    body = {"classroom_id": classroom["id"], "term": "gato", "translation": "cat"}
    error_of(await client.post(WORDS, json=body, headers=learner.headers), 403, "FORBIDDEN")
    response = await client.get(
        WORDS, params={"classroom_id": classroom["id"]}, headers=learner.headers
    )
    error_of(response, 403, "FORBIDDEN")
    response = await client.patch(
        f"{WORDS}/{word['id']}", json={"term": "x"}, headers=learner.headers
    )
    error_of(response, 403, "FORBIDDEN")
    assert await list_words(client, teacher, classroom["id"]) == [word]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"classroom_id", "term", "translation"}),
        ({"term": "", "translation": "dog"}, {"term"}),
        ({"term": "   ", "translation": "dog"}, {"term"}),
        ({"term": "p" * 201, "translation": "dog"}, {"term"}),
        ({"term": "perro", "translation": ""}, {"translation"}),
        ({"term": "perro", "translation": 7}, {"translation"}),
        ({"term": "perro", "translation": "dog", "topic": ""}, {"topic"}),
        ({"term": "perro", "translation": "dog", "topic": "t" * 61}, {"topic"}),
        ({"term": "perro", "translation": "dog", "topic": 3}, {"topic"}),
        ({"term": "perro", "translation": "dog", "id": "c:mine"}, {"id"}),
        (
            {"term": "", "translation": "", "topic": "", "created_at": "now"},
            {"term", "translation", "topic", "created_at"},
        ),
    ],
)
async def test_add_refuses_a_bad_body_naming_each_field(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    if body:
        body = {"classroom_id": classroom["id"], **body}
    error = error_of(
        await client.post(WORDS, json=body, headers=teacher.headers), 400, "VALIDATION_ERROR"
    )
    assert fields_named(error) == fields
    assert await list_words(client, teacher, classroom["id"]) == []


async def test_add_takes_200_characters_and_60_for_the_topic(client: Client) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    word = await add_word(
        client, teacher, classroom["id"], term="t" * 200, translation="u" * 200, topic="v" * 60
    )
    assert (len(word["term"]), len(word["translation"]), len(word["topic"])) == (200, 200, 60)


async def test_a_bad_classroom_id_is_400(client: Client) -> None:
    teacher = await user(client)
    body = {"classroom_id": "room-1", "term": "perro", "translation": "dog"}
    error = error_of(
        await client.post(WORDS, json=body, headers=teacher.headers), 400, "VALIDATION_ERROR"
    )
    assert fields_named(error) == {"classroom_id"}
    response = await client.get(WORDS, params={"classroom_id": "room-1"}, headers=teacher.headers)
    error_of(response, 400, "VALIDATION_ERROR")
    error_of(await client.get(WORDS, headers=teacher.headers), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"term": ""}, {"term"}),
        ({"translation": " "}, {"translation"}),
        ({"term": None}, {"term"}),
        ({"topic": ""}, {"topic"}),
        ({"topic": 5}, {"topic"}),
        ({"classroom_id": str(uuid.uuid4())}, {"classroom_id"}),
        ({"id": "c:other", "term": ""}, {"id", "term"}),
    ],
)
async def test_patch_refuses_a_bad_body_naming_each_field(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    teacher = await user(client)
    classroom = await create_classroom(client, teacher)
    word = await add_word(client, teacher, classroom["id"])
    response = await client.patch(f"{WORDS}/{word['id']}", json=body, headers=teacher.headers)
    assert fields_named(error_of(response, 400, "VALIDATION_ERROR")) == fields
    assert await list_words(client, teacher, classroom["id"]) == [word]


# --- the check on lessons' word ids --------------------------------------------------------


async def test_unknown_word_ids_keeps_deck_and_own_words(
    client: Client, settings: Settings
) -> None:
    teacher = await user(client)
    mine, other = [await create_classroom(client, teacher, n) for n in ("A", "B")]
    own = await add_word(client, teacher, mine["id"])
    elsewhere = await add_word(client, teacher, other["id"])
    asked = [
        "nope",
        "es:hola",
        own["id"],
        elsewhere["id"],
        "es:no-such-word",
        "nope",
        "es:perro",
        "c:nosuchword12",
    ]
    database = Database(settings.database_url)
    try:
        async with database.reader() as session:
            unknown = await unknown_word_ids(session, uuid.UUID(mine["id"]), asked)
            assert await unknown_word_ids(session, uuid.UUID(mine["id"]), []) == []
            known = ["es:hola", own["id"], "es:adios"]
            assert await unknown_word_ids(session, uuid.UUID(mine["id"]), known) == []
            # Another classroom's own words are its own: unknown here.
            in_other = await unknown_word_ids(session, uuid.UUID(other["id"]), [own["id"]])
    finally:
        await database.dispose()
    assert unknown == ["nope", elsewhere["id"], "es:no-such-word", "c:nosuchword12"]
    assert in_other == [own["id"]]
