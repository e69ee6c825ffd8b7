"""Classrooms, their teachers, students and lessons (contract §4)."""
