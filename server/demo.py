"""``tandem demo``: fill an empty database with a living classroom (contract §1).

Two teachers share a classroom of 25 students and 40 lessons in five categories, with
cards in every column; one learner (also a student there) has some progress. Everything
goes through the same services as the API, so the demo data is data the API could make.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from server.auth.service import AuthService
from server.auth.throttle import LoginThrottle
from server.auth.tokens import Principal
from server.board.rules import STATUSES
from server.board.service import BoardService
from server.classrooms.learners import LearnerService
from server.classrooms.roster import RosterService
from server.classrooms.service import ClassroomService
from server.progress.rules import Update
from server.progress.service import ProgressService
from server.realtime_wiring import Offline, offline_services
from server.settings import Settings
from storage.repositories import users

PASSWORD = "tandem-demo"  # noqa: S105 - the demo's published password, printed at the end
TEACHERS = [("Maria Lopez", "maria@demo.tandem"), ("David Chen", "david@demo.tandem")]
LEARNER = ("Sam Rivera", "sam@demo.tandem")
STUDENTS = [
    "Amara Okafor",
    "Ben Fischer",
    "Chloe Martin",
    "Diego Alvarez",
    "Emma Johansson",
    "Farah Haddad",
    "George Papadopoulos",
    "Hana Suzuki",
    "Isaac Cohen",
    "Jade Nguyen",
    "Kofi Mensah",
    "Lena Novak",
    "Mateo Rossi",
    "Nia Williams",
    "Oscar Lindqvist",
    "Priya Patel",
    "Quinn O'Brien",
    "Rosa Ferreira",
    "Samir Khan",
    "Tara Byrne",
    "Uma Iyer",
    "Victor Dubois",
    "Wen Li",
    "Yusuf Demir",
]  # with the demo learner, 25 students
LESSONS = {
    "Mathematics": [
        "Counting to 100",
        "Addition with Manipulatives",
        "Subtraction Stories",
        "Times Tables 2-5",
        "Times Tables 6-9",
        "Fractions as Parts",
        "Measuring Length",
        "Telling Time",
    ],
    "Language": [
        "Phonics: Short Vowels",
        "Phonics: Blends",
        "Sight Words I",
        "Sight Words II",
        "Reading Aloud",
        "Writing a Sentence",
        "Story Sequencing",
        "Rhyming Words",
    ],
    "Science": [
        "Plants Need Light",
        "The Water Cycle",
        "Magnets",
        "Animal Habitats",
        "States of Matter",
        "Our Solar System",
        "Weather Watch",
        "Simple Machines",
    ],
    "Spanish": [
        "Greetings",
        "Numbers 1-20",
        "Colours",
        "Family",
        "Food",
        "Animals",
        "Days and Months",
        "At School",
    ],
    "Art & Music": [
        "Primary Colours",
        "Rhythm Clapping",
        "Drawing Shapes",
        "Clay Modelling",
        "Singing Together",
        "Patterns",
        "Collage",
        "Listening to Instruments",
    ],
}
SPANISH_WORDS = [
    "hola",
    "adios",
    "gracias",
    "por-favor",
    "uno",
    "dos",
    "tres",
    "rojo",
    "azul",
    "verde",
    "madre",
    "padre",
    "pan",
    "agua",
    "perro",
    "gato",
    "lunes",
    "martes",
    "escuela",
    "libro",
]


@dataclass(frozen=True)
class DemoLogins:
    teachers: list[tuple[str, str]]
    learner: tuple[str, str]
    password: str
    classroom: str


class NotEmpty(Exception):
    """The database already has accounts; the demo only fills an empty one."""


async def fill(settings: Settings, *, seed: int = 7) -> DemoLogins:
    assert settings.secret_key is not None
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    throttle = LoginThrottle(None)
    try:
        async with offline_services(settings) as offline:
            return await _fill(settings, offline, throttle, rng)
    finally:
        await throttle.aclose()


async def _fill(
    settings: Settings, offline: Offline, throttle: LoginThrottle, rng: random.Random
) -> DemoLogins:
    assert settings.secret_key is not None
    database, publish = offline.database, offline.publish
    async with database.reader() as session:
        if await users.any_exist(session):
            raise NotEmpty()
    auth = AuthService(
        database,
        secret_key=settings.secret_key,
        access_ttl=60,
        refresh_ttl=60,
        login_throttle=throttle,
    )
    classrooms = ClassroomService(database, publish, offline.board_stamps)
    roster = RosterService(database, publish, offline.board_stamps)
    learners = LearnerService(database, publish, offline.board_stamps)
    board = BoardService(
        database, publish, offline.board_stamps, lock_ttl=settings.lock_ttl_seconds
    )
    progress = ProgressService(database, publish, offline.board_stamps)

    def principal(user_id: uuid.UUID, role: str, name: str) -> Principal:
        return Principal(user_id, role, name, datetime.now(UTC))

    teachers = [
        principal(
            (await auth.register(email=email, password=PASSWORD, name=name, role="teacher")).id,
            "teacher",
            name,
        )
        for name, email in TEACHERS
    ]
    lead = teachers[0]
    classroom = await classrooms.create(lead, "Class 3B")
    for other in teachers[1:]:
        await classrooms.join_as_teacher(other, classroom.teacher_join_code)
    learner_user = await auth.register(
        email=LEARNER[1], password=PASSWORD, name=LEARNER[0], role="learner"
    )
    learner = principal(learner_user.id, "learner", LEARNER[0])
    _, learner_student = await learners.join(learner, classroom.student_join_code)
    students = [learner_student.id] + [
        student.id for student in await roster.add_students(lead, classroom.id, STUDENTS)
    ]
    lessons = []
    for category, titles in LESSONS.items():
        for title in titles:
            words = [f"es:{w}" for w in SPANISH_WORDS] if category == "Spanish" else []
            lesson = await roster.add_lesson(
                lead, classroom.id, title=title, category=category, word_ids=words[:5]
            )
            lessons.append(uuid.UUID(lesson.id))
    for lesson_id in lessons[::8]:
        await board.create(lead, lesson_id=lesson_id, student_id=None, status="not_started")
    for student_id in students:
        for lesson_id in rng.sample(lessons, 6):
            await board.create(
                lead,
                lesson_id=lesson_id,
                student_id=student_id,
                status=rng.choices(STATUSES, weights=[4, 3, 2, 2])[0],
            )
    await progress.batch(
        learner,
        [
            Update(f"es:{word}", study, min(study, rng.randint(0, study)), rng.randint(1, 5))
            for word in SPANISH_WORDS[:12]
            for study in [rng.randint(1, 6)]
        ],
    )
    return DemoLogins(
        teachers=[(name, email) for name, email in TEACHERS],
        learner=LEARNER,
        password=PASSWORD,
        classroom=classroom.name,
    )
