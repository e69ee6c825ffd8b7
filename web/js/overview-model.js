// The class overview's state, with no DOM and no network (contract §9): the server's
// overview (GET /api/teacher/classrooms/{id}/overview: a row per student, a column per
// lesson, with their sums) and the board's cards (GET /progress-board: a cell per student ×
// lesson, with the card's `progress`), kept current by the board channel's events in seq
// order. The sums stay the server's: an event that changes them asks for a re-read.

/** A cell's colour band from its `progress`: "none" (no card), "waiting" (no learner yet),
 * "unstarted", "started" (no word mastered), "some", "most", "all" (every word mastered). */
export function shade(cell) {
  if (!cell) return "none";
  const progress = cell.progress;
  if (!progress) return "waiting";
  if (!progress.started) return "unstarted";
  if (progress.words && progress.mastered === progress.words) return "all";
  if (!progress.mastered) return "started";
  return progress.mastered * 2 >= progress.words ? "most" : "some";
}

/** A cell's text: "2/3" (mastered of the lesson's words), "–" without a learner. */
export function cellText(cell) {
  if (!cell) return "";
  if (!cell.progress) return "–";
  return `${cell.progress.mastered}/${cell.progress.words}`;
}

const cellKey = (studentId, lessonId) => `${studentId}|${lessonId}`;

export class OverviewModel {
  constructor() {
    this.students = []; // overview rows: {student, lessons, words, started, mastered, studies, correct, last_studied_at}
    this.lessons = []; // overview columns: {lesson, students, mastered_by}
    this.cells = new Map(); // "student|lesson" -> {id, status, progress}
    this.seq = 0;
  }

  /** The server's sums (a re-read keeps the cells). */
  loadOverview(overview) {
    this.students = overview.students;
    this.lessons = overview.lessons;
  }

  /** The cells from a board read; events above its `seq` are applied after. */
  loadBoard(board) {
    this.cells.clear();
    for (const column of board.columns) for (const card of column.cards) this.put(card);
    this.seq = board.seq;
  }

  put(card) {
    if (!card.student_id) return; // a template card is no student's
    this.cells.set(cellKey(card.student_id, card.lesson_id), {
      id: card.id,
      status: card.status,
      progress: card.progress ?? null,
      studentId: card.student_id,
      lessonId: card.lesson_id,
    });
  }

  cell(studentId, lessonId) {
    return this.cells.get(cellKey(studentId, lessonId)) ?? null;
  }

  cellById(cardId) {
    for (const cell of this.cells.values()) if (cell.id === cardId) return cell;
    return null;
  }

  /**
   * Apply one board event frame. Returns null (nothing here changed), or `{cell, sums,
   * reread}`: the cell that changed (to redraw and highlight), whether the server's sums
   * changed (re-read the overview), and whether the grid's rows or columns may have
   * (re-read the board too).
   */
  apply(frame) {
    if (frame.seq <= this.seq) return null;
    this.seq = frame.seq;
    const data = frame.data;
    switch (frame.event) {
      case "card.created":
        this.put(data);
        return { cell: this.cellById(data.id), sums: true, reread: false };
      case "card.moved": {
        const cell = this.cellById(data.card.id);
        if (!cell) return null;
        cell.status = data.card.status;
        cell.progress = data.card.progress ?? cell.progress;
        return { cell, sums: false, reread: false };
      }
      case "card.progress": {
        const cell = this.cellById(data.id);
        if (!cell) return null;
        cell.progress = data.progress;
        return { cell, sums: true, reread: false };
      }
      case "card.deleted": {
        const cell = this.cellById(data.id);
        if (cell) this.cells.delete(cellKey(cell.studentId, cell.lessonId));
        return { cell: null, sums: true, reread: false };
      }
      case "student.added":
      case "student.updated":
      case "student.removed":
      case "lesson.added":
      case "lesson.updated":
      case "lesson.removed":
        return { cell: null, sums: true, reread: true };
      default:
        return null;
    }
  }

  /** The whole class's figures, from the server's rows: mastered of words assigned. */
  totals() {
    let words = 0;
    let mastered = 0;
    for (const row of this.students) {
      words += row.words;
      mastered += row.mastered;
    }
    return { words, mastered };
  }
}
