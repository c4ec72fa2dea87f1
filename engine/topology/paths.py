"""Path computations over the topology's links (topologyShortestPath, topologyShortestPaths,
topologyMinimumSpanningTree): hop-count metric, paths and trees given as link names.

Ties are broken by link names so that a topology always gives the same answer: among paths of
equal length the one whose sequence of link names sorts first wins, and the spanning tree takes
links in name order. Parallel links (two links between the same two nodes) are different paths;
a link from a node to itself is on no path and in no tree. Choices: docs/topology.md.
"""

from __future__ import annotations

import heapq
from collections import deque

_CACHE_MAX = 4096  # cached path answers per topology version (cleared when full)
K_MAX = 1000  # paths per topologyShortestPaths call: it runs on the engine loop


class Graph:
    """The link graph of one topology version, with that version's answers cached."""

    __slots__ = ("version", "nodes", "adj", "links", "_paths", "_mst")

    def __init__(self, version, nodes, links: dict):
        self.version = version
        self.nodes = frozenset(nodes)
        self.links = []  # (name, node1, node2), name order
        adj: dict[str, list] = {n: [] for n in self.nodes}
        for name in sorted(links):
            a, b = links[name]["node1"], links[name]["node2"]
            if a == b:
                continue
            self.links.append((name, a, b))
            adj.setdefault(a, []).append((name, b))  # in link-name order (ties)
            adj.setdefault(b, []).append((name, a))
        self.adj = adj
        self._paths: dict = {}
        self._mst: tuple | None = None

    # -- one shortest path -------------------------------------------------------------------
    def _best(self, src, dst, skip_nodes=frozenset(), skip_links=frozenset()):
        """(links, nodes) of the shortest src -> dst path avoiding skip_nodes / skip_links whose
        link names sort first, or None. A BFS from dst gives each node's distance to dst, then
        the walk from src takes, at each node, the first link (by name) one hop closer."""
        adj = self.adj
        dist = {dst: 0}
        queue = deque((dst,))
        while queue and src not in dist:
            n = queue.popleft()
            d = dist[n] + 1
            for link, m in adj[n]:
                if m not in dist and m not in skip_nodes and link not in skip_links:
                    dist[m] = d
                    queue.append(m)
        if src not in dist:
            return None
        links, nodes, cur = [], [src], src
        while cur != dst:
            want = dist[cur] - 1
            for link, m in adj[cur]:
                if dist.get(m) == want and link not in skip_links and m not in skip_nodes:
                    links.append(link)
                    nodes.append(m)
                    cur = m
                    break
        return links, nodes

    def shortest_path(self, src, dst):
        """Link names from src to dst; [] for src == dst; None for an unknown node or no path."""
        if src not in self.nodes or dst not in self.nodes:
            return None
        key = ("1", src, dst)
        if key not in self._paths:
            best = self._best(src, dst)
            self._remember(key, None if best is None else best[0])
        hit = self._paths[key]
        return None if hit is None else list(hit)

    # -- k shortest loopless paths (Yen) ----------------------------------------------------
    def shortest_paths(self, src, dst, k: int, max_len: int = 0):
        """Up to k loopless src -> dst paths (lists of link names), shortest first, none longer
        than max_len links when max_len > 0; None for an unknown node."""
        if src not in self.nodes or dst not in self.nodes:
            return None
        if k <= 0:
            return []
        k = min(k, K_MAX)
        key = ("k", src, dst, k, max_len)
        if key not in self._paths:
            self._remember(key, self._yen(src, dst, k, max_len))
        return [list(p) for p in self._paths[key]]

    def _yen(self, src, dst, k, max_len):
        first = self._best(src, dst)
        if first is None or (max_len > 0 and len(first[0]) > max_len):
            return []
        found = [first]
        seen = {tuple(first[0])}
        candidates: list = []  # heap of (hops, link names, nodes)
        while len(found) < k:
            links, nodes = found[-1]
            for i in range(len(links)):
                root = links[:i]
                # links that would repeat a path already found with this same root
                skip_links = {p[0][i] for p in found if len(p[0]) > i and p[0][:i] == root}
                spur = self._best(nodes[i], dst, frozenset(nodes[:i]), skip_links)
                if spur is None:
                    continue
                path = root + spur[0]
                if max_len > 0 and len(path) > max_len:
                    continue
                names = tuple(path)
                if names not in seen:
                    seen.add(names)
                    heapq.heappush(candidates, (len(path), names, nodes[:i] + spur[1]))
            if not candidates:
                break
            hops, names, path_nodes = heapq.heappop(candidates)
            found.append((list(names), path_nodes))
        found.sort(key=lambda p: (len(p[0]), p[0]))
        return [tuple(p[0]) for p in found]

    # -- minimum spanning tree (Kruskal) ----------------------------------------------------
    def spanning_tree(self):
        """Link names of a minimum spanning tree (a forest when the graph is disconnected):
        every link weighs one hop, so links are taken in name order."""
        if self._mst is None:
            parent = {n: n for n in self.adj}

            def root(n):
                while parent[n] != n:
                    parent[n] = parent[parent[n]]  # path halving
                    n = parent[n]
                return n

            tree = []
            for name, a, b in self.links:
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[ra] = rb
                    tree.append(name)
            self._mst = tuple(tree)
        return list(self._mst)

    def _remember(self, key, value):
        if len(self._paths) >= _CACHE_MAX:
            self._paths.clear()
        self._paths[key] = None if value is None else tuple(value)
