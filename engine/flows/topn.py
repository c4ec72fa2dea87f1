"""activeFlows over several processes: an exact distributed top N (docs/ingest.md, "Workers").

Each process (a worker, or the engine itself without workers) aggregates its own flow cache
entries per flow key into a *row*::

    (key, value, n, vmax, agent, dataSource, values)

``value`` is the sum over its locations (aggMode sum/edge) or the largest (max/core), ``n``
the number of locations (agent, data source) holding the key, ``vmax`` the largest single
value and ``agent``/``dataSource``/``values`` where it is. Rows of one key from several
processes merge into the global row: values summed (or the largest kept), ``n`` summed, the
location of the largest ``vmax`` kept.

The global top N by merged value is found with the three-phase uniform threshold algorithm
(TPUT, Cao and Wang 2004), run by ``top_rows`` against ``ask(request) -> [reply, ...]`` (one
reply per process, each ``(process id, rows, complete)``):

1. ``("top", k)``: every process sends its top k rows, and the rows equal to its k-th
   (``complete`` when it has no more).
   Every process complete, or only one process: that is the answer. Otherwise tau = the k-th
   largest partial value of the keys seen (a lower bound of the k-th answer).
2. sum only: ``("above", tau / m)``: every process sends its other rows with a value of at
   least tau/m (m processes). A key a process did not send is below tau/m there, which bounds
   every key's total from above; a key never sent anywhere is below tau.
3. ``("exact", {process: [keys]})``: the rows a process has of the candidate keys (those whose
   bound reaches the new k-th lower bound) that it did not send yet. Every candidate's row is
   then complete and exact, and the top k of them is the answer.
For max, phase 2 is not needed: a key's largest value sits in the top k of the process that
has it, else k keys beat it there. minValue raises tau (it bounds the answer from below too).
"""

from __future__ import annotations

import heapq
from operator import itemgetter

_value = itemgetter(1)


def merge_rows(rows: list, summing: bool) -> tuple:
    """One key's rows from several processes -> the global row."""
    first = rows[0]
    if len(rows) == 1:
        return first
    key, value, n, vmax, agent, ds, values = first
    for r in rows[1:]:
        n += r[2]
        if summing:
            value += r[1]
        if r[3] > vmax:  # strict: the first process wins ties
            vmax, agent, ds, values = r[3], r[4], r[5], r[6]
            if not summing:
                value = vmax
    return (key, value, n, vmax, agent, ds, values)


def with_ties(items: list, k: int, value) -> list:
    """The k largest items by ``value(item)`` and every other item equal to the k-th (k < 0:
    all): which of several equal flows make the top k is then decided by key, not by the
    order the flows (or the workers' answers) came in."""
    if k < 0:
        return list(items)
    top = heapq.nlargest(k, items, key=value)
    if k and len(top) == k:
        kth = value(top[-1])
        top = [x for x in top if value(x) > kth] + [x for x in items if value(x) == kth]
    return top


def _text(row) -> tuple:
    return tuple(v if v.__class__ is str else str(v) for v in row[0])


def _top(rows, k: int, min_value) -> list:
    """Largest first; equal values by key."""
    if min_value is not None:
        rows = [r for r in rows if r[1] >= min_value]
    chosen = with_ties(rows, k, _value)
    chosen.sort(key=lambda r: (-r[1], _text(r)))
    return chosen if k < 0 else chosen[:k]


def top_rows(ask, k: int, min_value, summing: bool) -> list:
    """The top k merged rows (k < 0: all), largest first, each with value >= min_value."""
    if k == 0:
        return []
    # max: a process need not send keys below minValue (they cannot make the answer); it is
    # then not complete, and phase 3 asks for their flowN share
    replies = ask(("top", k, min_value if not summing and k >= 0 else None))
    if len(replies) <= 1:
        # one process holds every location of its keys: its own top k is the answer
        return _top(replies[0][1] if replies else [], k, min_value)
    sent: dict = {}  # process id -> {key: row}
    complete: set = set()
    for pid, rows, done in replies:
        sent[pid] = {r[0]: r for r in rows}
        if done:
            complete.add(pid)
    if k < 0 or len(complete) == len(sent):
        return _top(_merged(sent, summing), k, min_value)
    m = len(sent)
    floor = min_value if min_value is not None else 0.0
    tau = max(_kth(_partial_values(sent, summing), k), floor)
    threshold = 0.0
    if summing:
        threshold = tau / m
        for pid, rows, done in ask(("above", threshold)):
            sent.setdefault(pid, {}).update((r[0], r) for r in rows)
            if done:
                complete.add(pid)
        partial = _partial_values(sent, summing)
        tau = max(_kth(partial, k), floor)
        candidates = []
        for key, known in partial.items():
            bound = known + threshold * sum(
                1 for pid, rows in sent.items() if pid not in complete and key not in rows
            )
            if bound >= tau:
                candidates.append(key)
    else:
        partial = _partial_values(sent, summing)
        candidates = [
            key
            for key, _ in with_ties(
                [(key, v) for key, v in partial.items() if v >= floor], k, _value
            )
        ]
    wanted = {
        pid: [key for key in candidates if key not in rows]
        for pid, rows in sent.items()
        if pid not in complete
    }
    wanted = {pid: keys for pid, keys in wanted.items() if keys}
    if wanted:
        for pid, rows, _ in ask(("exact", wanted)):
            sent.setdefault(pid, {}).update((r[0], r) for r in rows)
    chosen = set(candidates)
    final = _merged(
        {pid: {key: r for key, r in rows.items() if key in chosen} for pid, rows in sent.items()},
        summing,
    )
    return _top(final, k, min_value)


def _partial_values(sent: dict, summing: bool) -> dict:
    out: dict = {}
    for rows in sent.values():
        for key, r in rows.items():
            v = out.get(key)
            if v is None:
                out[key] = r[1]
            elif summing:
                out[key] = v + r[1]
            elif r[1] > v:
                out[key] = r[1]
    return out


def _kth(values: dict, k: int) -> float:
    if len(values) < k:
        return 0.0
    return heapq.nlargest(k, values.values())[-1]


def _merged(sent: dict, summing: bool) -> list:
    by_key: dict = {}
    for rows in sent.values():
        for key, r in rows.items():
            by_key.setdefault(key, []).append(r)
    return [merge_rows(rows, summing) for rows in by_key.values()]
