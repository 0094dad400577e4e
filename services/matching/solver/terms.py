"""The rules of planning over a term, beside the pair scores: weekly slots kept by the same
members (rotas), tasks staffed by a team that covers their skills together, large one-off
events over-booked by their expected no-shows, and pins staff set on a draft; with the figures
each is judged by (rota stability, team cover, expected attendance).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from services.matching.solver.model import SCALE, Instance

if TYPE_CHECKING:
    from services.matching.solver.candidates import Candidates


# -- over-booking ----------------------------------------------------------------------------


def overbooks(instance: Instance, j: int) -> bool:
    """Only a large one-off event is over-booked: a cap set on its role and at least the
    threshold of people asked for. A wish (one resident) or a small task never is."""
    task = instance.tasks[j]
    asked = task.headcount or task.places
    return task.overbook_cap > 0 and asked >= instance.params.overbook_min_headcount


def overbooked_places(instance: Instance, cands: Candidates) -> list[int]:
    """Places each task may fill: its open places, and for an event as many more as its
    candidates are expected not to come (their records' no-show rate), within its cap."""
    out = []
    for j, task in enumerate(instance.tasks):
        if not overbooks(instance, j):
            out.append(task.places)
            continue
        ranked = sorted(cands.by_task.get(j, []), key=lambda p: (-cands.score[p], p))
        likely = ranked[: task.places + task.overbook_cap]
        if not likely:
            out.append(task.places)
            continue
        missing = sum(1 - instance.members[cands.member[p]].reliability for p in likely)
        rate = min(0.9, missing / len(likely))
        # With e extra, e + places members at no-show rate q leave places expected to come.
        extra = round(task.places * rate / (1 - rate))
        out.append(task.places + min(task.overbook_cap, extra))
    return out


def attendance(instance: Instance, cands: Candidates, pairs: list[int]) -> tuple[float, int, int]:
    """Over the events over-booked: (members expected to come, headcount, members planned)."""
    events = {j for j in range(len(instance.tasks)) if overbooks(instance, j)}
    planned = [p for p in pairs if cands.task[p] in events]
    expected = sum(instance.members[cands.member[p]].reliability for p in planned)
    return expected, sum(instance.tasks[j].places for j in events), len(planned)


# -- rotas -----------------------------------------------------------------------------------


def adopt_slots(instance: Instance, cands: Candidates) -> dict[str, list[int]]:
    """Each weekly slot's standing members, as many as one occurrence asks for: those who
    already serve it, then the candidates who can take the most of its occurrences (best
    scored first). Their pairs on the slot earn `continuity`, so a rota keeps its members week
    after week where they can come, while every pair keeps a score of its own: the flow bound,
    the heuristics and the exact model see the same separable objective, at no extra cost."""
    bonus = round(instance.weights.continuity * SCALE)
    occurrences: dict[str, list[int]] = defaultdict(list)
    for j, task in enumerate(instance.tasks):
        if task.slot:
            occurrences[task.slot].append(j)
    adopted: dict[str, list[int]] = {}
    for slot, tasks in occurrences.items():
        weeks: Counter[int] = Counter()
        points: Counter[int] = Counter()
        for j in tasks:
            for p in cands.by_task.get(j, []):
                weeks[cands.member[p]] += 1
                points[cands.member[p]] += cands.score[p]
        size = max(cands.places[j] for j in tasks)
        ranked = sorted(
            weeks,
            key=lambda i: (slot not in instance.members[i].slots, -weeks[i], -points[i], i),
        )
        adopted[slot] = sorted(ranked[:size])
        if bonus:
            chosen = set(adopted[slot])
            for j in tasks:
                for p in cands.by_task.get(j, []):
                    if cands.member[p] in chosen:
                        cands.score[p] += bonus
    return adopted


def rota_stability(instance: Instance, cands: Candidates, pairs: list[int]) -> tuple[int, int]:
    """(slot-weeks served by the slot's usual members, slot-weeks served). A slot's usual
    members are as many as one occurrence asks for: those who already stand in it, then those
    the plan gives the most of its weeks."""
    served: dict[str, Counter[int]] = defaultdict(Counter)
    size: dict[str, int] = defaultdict(int)
    for j, task in enumerate(instance.tasks):
        if task.slot:
            size[task.slot] = max(size[task.slot], cands.places[j])
    for p in pairs:
        slot = instance.tasks[cands.task[p]].slot
        if slot:
            served[slot][cands.member[p]] += 1
    usual, total = 0, 0
    for slot, counts in served.items():
        ranked = sorted(
            counts,
            key=lambda i: (slot not in instance.members[i].slots, -counts[i], i),
        )
        usual += sum(counts[i] for i in ranked[: size[slot]])
        total += sum(counts.values())
    return usual, total


# -- teams -----------------------------------------------------------------------------------


def team_tasks(instance: Instance) -> list[int]:
    return [j for j, t in enumerate(instance.tasks) if t.team and len(t.skills) > 1]


def uncovered(instance: Instance, cands: Candidates, j: int, pairs: list[int]) -> set[str]:
    """The task's skills none of these pairs brings."""
    need = {code for code, _ in instance.tasks[j].skills}
    for p in pairs:
        need -= set(cands.covers[p])
    return need


def team_cover(instance: Instance, cands: Candidates, pairs: list[int]) -> tuple[int, int, int]:
    """(team tasks staffed with every skill covered, team tasks staffed, team tasks)."""
    teams = team_tasks(instance)
    by_task: dict[int, list[int]] = defaultdict(list)
    for p in pairs:
        by_task[cands.task[p]].append(p)
    staffed = [j for j in teams if by_task.get(j)]
    covered = sum(1 for j in staffed if not uncovered(instance, cands, j, by_task[j]))
    return covered, len(staffed), len(teams)


def mend_teams(instance: Instance, cands: Candidates, pairs: list[int]) -> list[int]:
    """A heuristic plan made to respect teams: a team task whose members miss a skill takes,
    where it can, a candidate bringing it (the one bringing the most missing skills, then the
    best scored), else gives up its places (pinned pairs stay)."""
    from services.matching.solver.heuristics import Ledger  # the ledger knows candidates

    teams = team_tasks(instance)
    chosen = set(pairs)
    pinned = set(cands.pinned)
    for j in teams:
        mine = [p for p in cands.by_task.get(j, []) if p in chosen]
        if not set(mine) - pinned or not uncovered(instance, cands, j, mine):
            continue
        chosen -= set(mine) - pinned
        ledger = Ledger(instance, cands)
        for p in sorted(chosen):
            ledger.take(p)
        team = [p for p in mine if p in pinned]
        need = uncovered(instance, cands, j, team)
        options = sorted(cands.by_task.get(j, []), key=lambda p: (-cands.score[p], p))
        while need:
            fits = [p for p in options if p not in team and ledger.can_take(p)]
            best = max(fits, key=lambda p: len(need & set(cands.covers[p])), default=None)
            if best is None or not need & set(cands.covers[best]):
                break
            ledger.take(best)
            team.append(best)
            need -= set(cands.covers[best])
        if need:
            continue  # no team can be made: its places stay empty
        for p in options:
            if p not in team and ledger.can_take(p) and ledger.marginal(p) > 0:
                ledger.take(p)
                team.append(p)
        chosen |= set(team)
    return sorted(chosen)


# -- pins ------------------------------------------------------------------------------------


def fitting_pins(instance: Instance, cands: Candidates) -> list[int]:
    """The pinned pairs that are candidates and fit together (in the order of their tasks)."""
    if not instance.pinned:
        return []
    from services.matching.solver.heuristics import Ledger

    ledger = Ledger(instance, cands)
    out = []
    for p in range(len(cands)):
        key = (instance.tasks[cands.task[p]].id, instance.members[cands.member[p]].id)
        if key in instance.pinned and ledger.can_take(p):
            ledger.take(p)
            out.append(p)
    return out
