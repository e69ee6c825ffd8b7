"""The seeded choice of the differential test's operations (tests/storage/differential_ops.py).

The same seed gives the same ops in both runs: the generator reads one run's answers only
to steer towards ops that can succeed (a move a card's column allows, a teacher of the
card's classroom, a count above the stored one) and among them chooses by the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tests.storage.differential import Run, random_uuid
from tests.storage.differential_ops import Op

STATUSES = ("not_started", "in_progress", "needs_review", "mastered")
# Names a dialect's JSON building must escape alike: quotes, backslashes, controls, non-ASCII.
TEACHER_NAMES = ('Zoë O\'Hara "Q"', "Grace \\ Hopper", "李雷 😀")
LEARNER_NAMES = ("Sam\tTab", "Ελένη")
# Unique within a classroom: students are listed by name (then by id, which differs by run).
STUDENT_NAMES = ("Ann", "Bé\nn", "Cléo </script>", "D'Arcy", "ann", "Ω 🦉", "Eve", "Fay")
LESSONS = (
    ("Fractions", "Math"),
    ('Verbs "ir"', "Language"),
    ("Plants\\Trees", "Science"),
    ("Números", "Math"),
    ("Ünïcode", "Ünïcode ✓"),
)
WORDS = ("es:hola", "es:adios", "es:gato", "w.1", "w_2", "x-3")
# A lesson's words must be deck words or the classroom's own (contract §8).
LESSON_WORDS = ("es:hola", "es:adios", "es:gracias", "es:por-favor", "es:de-nada", "es:gato")
# Positions a move may ask for: the ends, past the end, the integer limits of each side.
POSITIONS = (0, 0, 0, 1, 1, 1, 1, 2, 3, 5, 40, 2**31 - 1, 2**31, 2**53, 2**63 - 1, -1, -(2**63))
BURST_AT = 120
TEACHERS = (0, 1, 2)  # user handles: 0 owns classroom 0 (1 joins it), 2 owns classroom 1
LEARNERS = (3, 4)


def finale() -> list[Op]:
    """Every board whole and every learner's records: the state the runs end in."""
    ops = [
        Op(
            "board",
            {"teacher": teacher, "room": room, "student": None, "category": None, "status": None},
        )
        for teacher, room in ((0, 0), (2, 1))
    ]
    for learner in LEARNERS:
        ops += [
            Op("progress", {"learner": learner, "method": "GET", "path": path})
            for path in ("", "/stats")
        ]
    return ops


def setup(seed: int) -> list[Op]:
    """Accounts, two classrooms (one of them shared by two teachers), students, lessons."""
    ops = [
        Op("register", {"role": "teacher", "name": name, "email": f"t{n}.{seed}@example.org"})
        for n, name in enumerate(TEACHER_NAMES)
    ]
    ops += [
        Op("register", {"role": "learner", "name": name, "email": f"l{n}.{seed}@example.org"})
        for n, name in enumerate(LEARNER_NAMES)
    ]
    ops += [
        Op("register", {"role": "learner", "name": "Dup", "email": f"T0.{seed}@Example.org"}),
        Op("create_classroom", {"teacher": 0, "name": "7C — Zoë's"}),
        Op("create_classroom", {"teacher": 2, "name": "8A"}),
        Op("join_teacher", {"teacher": 1, "room": 0}),
        Op("join_teacher", {"teacher": 1, "room": None}),
    ]
    for n, name in enumerate(STUDENT_NAMES):
        room = 0 if n < 6 else 1
        ops.append(
            Op(
                "add",
                {"teacher": 2 * room, "room": room, "what": "students", "fields": {"name": name}},
            )
        )
    for n, (title, category) in enumerate(LESSONS):
        room = 0 if n < 4 else 1
        fields = {"title": title, "category": category, "word_ids": list(LESSON_WORDS[n : n + 3])}
        ops.append(
            Op("add", {"teacher": 2 * room, "room": room, "what": "lessons", "fields": fields})
        )
    ops.append(Op("join_learner", {"learner": 3, "room": 0}))
    ops.append(Op("join_learner", {"learner": 4, "room": 1}))
    # Cards of the learners' student entries (handles 8 and 9): their progress shows on
    # them, and progress writes announce it and auto-advance them (contract §9).
    ops += [
        Op("create_card", {"teacher": 0, "lesson": lesson, "student": 8, "status": None})
        for lesson in range(4)
    ]
    ops.append(Op("create_card", {"teacher": 2, "lesson": 4, "student": 9, "status": None}))
    # A board to start with: every lesson of classroom 0 for three students, and templates.
    for lesson in range(4):
        for student in (0, 1, 2, None):
            status = STATUSES[(lesson + (student or 0)) % 3] if student != 1 else None
            ops.append(
                Op(
                    "create_card",
                    {"teacher": lesson % 2, "lesson": lesson, "student": student, "status": status},
                )
            )
    return ops


class Plan:
    """The seeded generator of ops after :func:`setup`."""

    def __init__(self, seed: int, model: Run) -> None:
        self.rng = random.Random(seed)
        self.model = model  # read to bias the choices only, never to build requests
        self.burst = 0
        self.made = 0
        self.added = 0
        self.burst_status = STATUSES[0]
        self.burst_column: list[int] = []
        # (learner, room) a leave was made for: joining by the classroom's code again would
        # add a second entry of the learner's name, listed by id (which differs by run), so
        # such a learner comes back by claiming an entry instead.
        self.left: set[tuple[int, int]] = set()

    def next(self) -> Op:
        self.made += 1
        if self.burst:
            return self.burst_move()
        if self.made == BURST_AT:  # one burst at least, once the board has filled up
            return self.start_burst()
        kinds: list[tuple[Callable[[], Op], int]] = [
            (self.create_card, 14),
            (self.move, 24),
            (self.batch_move, 9),
            (self.card_action, 14),
            (self.board, 9),
            (self.put, 13),
            (self.progress_batch, 5),
            (self.progress_import, 3),
            (self.progress_read, 6),
            (self.roster, 3),
            (self.lesson_words, 3),
            (self.membership, 4),
            (self.start_burst, 1),
        ]
        choose = self.rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        return choose()

    def _teacher(self, room: int | None) -> int:
        """Mostly a teacher of ``room``, sometimes one who is not (404s)."""
        members = {0: (0, 1), 1: (2,)}.get(room if room is not None else -1, TEACHERS)
        if self.rng.random() < 0.9:
            return self.rng.choice(members)
        return self.rng.choice(TEACHERS)

    def _live(self) -> list[int]:
        return [h for h, card in enumerate(self.model.cards) if card in self.model.shown]

    def _card(self) -> int | str:
        """A card on the board mostly; else a deleted one, or an id no run made."""
        live = self._live()
        roll = self.rng.random()
        if live and roll < 0.88:
            return self.rng.choice(live)
        if self.model.cards and roll < 0.96:
            return self.rng.randrange(len(self.model.cards))
        return random_uuid(self.rng.getrandbits(128))

    def _room(self, card: int | str) -> int | None:
        return self.model.room_of.get(self.model.cards[card]) if isinstance(card, int) else None

    def start_burst(self) -> Op:
        """A board read, then single moves of a column's last card to its second place,
        over and over: the gap between the first two keys halves each time until it runs
        out, and the move renumbers the column (PostgreSQL's function hands that to
        Python)."""
        self.burst = self.rng.randint(18, 24)
        return Op(
            "board", {"teacher": 0, "room": 0, "student": None, "category": None, "status": None}
        )

    def burst_move(self) -> Op:
        if not self.burst_column:  # just after the board read: positions are all fresh
            columns: dict[str, list[tuple[int, int]]] = {status: [] for status in STATUSES}
            for h in self._live():
                shown = self.model.shown[self.model.cards[h]]
                if self._room(h) == 0:
                    columns[shown["status"]].append((shown["position"], h))
            self.burst_status, column = max(columns.items(), key=lambda item: len(item[1]))
            self.burst_column = [h for _, h in sorted(column)]
        self.burst -= 1
        order = self.burst_column
        if len(order) < 3:
            self.burst = 0
            return self.move()
        if not self.burst:
            self.burst_column = []
        order.insert(1, order.pop())
        return Op(
            "move",
            {
                "teacher": 0,
                "card": order[1],
                "status": self.burst_status,
                "position": 1,
                "version": "current",
            },
        )

    def create_card(self) -> Op:
        lesson = self.rng.randrange(len(self.model.lessons))
        room = self.model.room_of[self.model.lessons[lesson]]
        student = None if self.rng.random() < 0.2 else self._student(room)
        status = self.rng.choice((None, None, *STATUSES, "done"))
        return Op(
            "create_card",
            {
                "teacher": self._teacher(room),
                "lesson": lesson,
                "student": student,
                "status": status,
            },
        )

    def _move_spec(self) -> dict[str, Any]:
        card = self._card()
        shown = self.model.shown.get(self.model.cards[card]) if isinstance(card, int) else None
        current = STATUSES.index(shown["status"]) if shown else 0
        roll = self.rng.random()
        if roll < 0.65:  # an allowed transition: stay, go back, or one forward
            status = STATUSES[self.rng.randint(0, min(current + 1, 3))]
        elif roll < 0.85:
            status = self.rng.choice(STATUSES)
        elif roll < 0.95 and current < 2:  # jump forward over a column
            status = STATUSES[self.rng.randint(current + 2, 3)]
        else:
            status = "finished"
        version = self.rng.choices(("current", "offset", "stale", "fixed"), (80, 6, 9, 5))[0]
        return {
            "card": card,
            "status": status,
            "position": self.rng.choice(POSITIONS),
            "version": version,
        }

    def move(self) -> Op:
        spec = self._move_spec()
        return Op("move", {"teacher": self._teacher(self._room(spec["card"])), **spec})

    def batch_move(self) -> Op:
        count = self.rng.choice((1, 2, 3, 4, 6, 9))
        moves = [self._move_spec() for _ in range(count)]
        if self.rng.random() < 0.3 and moves:  # the same card again, now with a stale version
            moves.append(dict(moves[0]))
        if self.rng.random() < 0.03:
            moves = [self._move_spec() for _ in range(101)]  # too many: 400 as a whole
        teacher = self._teacher(self._room(moves[0]["card"]))
        return Op("batch_move", {"teacher": teacher, "moves": moves})

    def card_action(self) -> Op:
        action = self.rng.choices(("lock", "unlock", "delete"), (45, 38, 17))[0]
        card = self._card()
        return Op(
            "card", {"teacher": self._teacher(self._room(card)), "action": action, "card": card}
        )

    def _student(self, room: int | None) -> int:
        """Mostly a student of ``room``; sometimes any (another room's: an empty board)."""
        students = range(len(self.model.students))
        ours = [h for h in students if self.model.room_of[self.model.students[h]] == room]
        return self.rng.choice(ours if ours and self.rng.random() < 0.85 else students)

    def board(self) -> Op:
        room = self.rng.choice((None, 0, 0, 0, 1))
        student = category = status = None
        match self.rng.randrange(7):
            case 0:
                student = self._student(0 if room is None else room)
            case 1:
                category = self.rng.choice(("Math", "Science", "Ünïcode ✓", "Nothing"))
            case 2:
                status = self.rng.choice((*STATUSES, "done"))
            case 3:
                student = self._student(0 if room is None else room)
                status = self.rng.choice(STATUSES)
        return Op(
            "board",
            {
                "teacher": self._teacher(room),
                "room": room,
                "student": student,
                "category": category,
                "status": status,
            },
        )

    def _counts(self, known: dict[str, Any] | None) -> dict[str, Any]:
        """A device's report on a word: new, raised, equal, stale, or invalid."""
        study = known["studyCount"] if known else 0
        correct = known["correctCount"] if known else 0
        confidence = known["confidence"] if known else self.rng.randint(0, 5)
        roll = self.rng.random()
        if roll < 0.55 or not known:
            rise = self.rng.randint(1, 4)
            study, correct = study + rise, correct + self.rng.randint(0, rise)
            confidence = self.rng.randint(0, 5)
        elif roll < 0.7:
            pass  # the same counts: unchanged, unless confidence or mastered differ
        elif roll < 0.8:
            confidence = self.rng.randint(0, 5)
        elif roll < 0.92 and study > 0:
            study -= 1  # a stale device
            correct = min(correct, study)
        else:
            correct = study + 1  # more correct than studied
        body: dict[str, Any] = {
            "studyCount": study,
            "correctCount": correct,
            "confidence": confidence,
        }
        if self.rng.random() < 0.3:  # else left out: the stored value stays
            body["mastered"] = self.rng.random() < 0.5
        return body

    def _known(self, learner: int, word: str) -> dict[str, Any] | None:
        return self.model.records.get(learner, {}).get(word)

    def put(self) -> Op:
        learner = self.rng.choice(LEARNERS)
        word = self.rng.choice(WORDS)
        body = self._counts(self._known(learner, word))
        return Op(
            "progress", {"learner": learner, "method": "PUT", "path": f"/{word}", "json": body}
        )

    def progress_batch(self) -> Op:
        learner = self.rng.choice(LEARNERS)
        running = dict(self.model.records.get(learner, {}))
        items = []
        for _ in range(self.rng.randint(1, 7)):
            word = self.rng.choice(WORDS[:4])  # a small pool: repeats are common
            body = self._counts(running.get(word))
            items.append({"wordId": word, **body})
            running[word] = {"mastered": False, **running.get(word, {}), **body}
        return Op(
            "progress",
            {"learner": learner, "method": "POST", "path": "/batch", "json": {"updates": items}},
        )

    def progress_import(self) -> Op:
        learner = self.rng.choice(LEARNERS)
        body: dict[str, Any] = {}
        for word in self.rng.sample((*WORDS, "new.word", "bad word", "stats"), 4):
            study = self.rng.randint(0, 30)
            entry: dict[str, Any] = {
                "studyCount": study,
                "correctCount": self.rng.randint(0, study + 1),
                "confidence": self.rng.randint(0, 5),
            }
            match self.rng.randrange(4):
                case 0:
                    entry["lastStudied"] = "2026-03-04T05:06:07.123Z"
                case 1:
                    entry["lastStudied"] = 1_700_000_000_000 + self.rng.randrange(10**9)
                case 2:
                    entry["lastStudied"] = "2999-01-01T00:00:00Z"  # in the future: rejected
            if self.rng.random() < 0.3:
                entry["mastered"] = True
            body[word] = entry
        return Op(
            "progress", {"learner": learner, "method": "POST", "path": "/import", "json": body}
        )

    def progress_read(self) -> Op:
        learner = self.rng.choice(LEARNERS)
        word = self.rng.choice(WORDS)
        method, path = self.rng.choice(
            (
                ("GET", ""),
                ("GET", "?due=true"),
                ("GET", "/stats"),
                ("GET", f"/{word}"),
                ("DELETE", f"/{word}"),
                ("PUT", "/..."),
            )
        )
        args: dict[str, Any] = {"learner": learner, "method": method, "path": path}
        if method == "PUT":
            args["json"] = {"studyCount": 1, "correctCount": 1, "confidence": 3}
        return Op("progress", args)

    def lesson_words(self) -> Op:
        """A lesson's words replaced: its cards' progress may change (contract §9)."""
        lesson = self.rng.randrange(len(self.model.lessons))
        room = self.model.room_of[self.model.lessons[lesson]]
        words = self.rng.sample(LESSON_WORDS, self.rng.randint(0, 4))
        return Op(
            "lesson_words",
            {"teacher": self._teacher(room), "lesson": lesson, "word_ids": words},
        )

    def membership(self) -> Op:
        """A learner leaves a classroom, or claims a student entry by its code: the
        entry's cards gain or lose the learner's progress (contract §8, §9)."""
        learner = self.rng.choice(LEARNERS)
        room = self.rng.randrange(len(self.model.classrooms))
        if self.rng.random() < 0.5:
            self.left.add((learner, room))
            return Op("leave", {"learner": learner, "room": room})
        return self._claim(learner, room)

    def _claim(self, learner: int, room: int) -> Op:
        student = self._student(room)
        teacher = self._teacher(self.model.room_of[self.model.students[student]])
        return Op("claim", {"learner": learner, "teacher": teacher, "student": student})

    def roster(self) -> Op:
        room = self.rng.randrange(len(self.model.classrooms))
        teacher = self._teacher(room)
        match self.rng.randrange(4):
            case 0:
                self.added += 1
                name = f"{self.rng.choice(STUDENT_NAMES)} {self.added}"
                return Op(
                    "add",
                    {
                        "teacher": teacher,
                        "room": room,
                        "what": "students",
                        "fields": {"name": name},
                    },
                )
            case 1:
                title, category = self.rng.choice(LESSONS)
                return Op(
                    "add",
                    {
                        "teacher": teacher,
                        "room": room,
                        "what": "lessons",
                        "fields": {"title": title, "category": category},
                    },
                )
            case 2:
                what = self.rng.choice(("classrooms", "students", "lessons"))
                return Op("list", {"teacher": teacher, "room": room, "what": what})
        learner = self.rng.choice(LEARNERS)
        if (learner, room) in self.left:
            return self._claim(learner, room)
        return Op("join_learner", {"learner": learner, "room": room})
