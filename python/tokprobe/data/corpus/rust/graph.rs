use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// A directed graph with weighted edges, generic over the node type.
#[derive(Default, Debug)]
pub struct Graph<N: Eq + Hash + Clone> {
    edges: HashMap<N, Vec<(N, u32)>>,
}

impl<N: Eq + Hash + Clone + Ord> Graph<N> {
    pub fn new() -> Self {
        Self { edges: HashMap::new() }
    }

    pub fn add_edge(&mut self, from: N, to: N, weight: u32) {
        self.edges.entry(to.clone()).or_default();
        self.edges.entry(from).or_default().push((to, weight));
    }

    pub fn neighbours(&self, node: &N) -> impl Iterator<Item = &(N, u32)> + '_ {
        self.edges.get(node).into_iter().flatten()
    }

    /// Breadth-first order from `start`.
    pub fn bfs(&self, start: &N) -> Vec<N> {
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = VecDeque::from([start.clone()]);
        let mut order = Vec::new();
        while let Some(node) = queue.pop_front() {
            for (next, _) in self.neighbours(&node) {
                if seen.insert(next.clone()) {
                    queue.push_back(next.clone());
                }
            }
            order.push(node);
        }
        order
    }

    /// Shortest distances from `start` (Dijkstra).
    pub fn dijkstra(&self, start: &N) -> HashMap<N, u32> {
        let mut dist: HashMap<N, u32> = HashMap::new();
        let mut heap = BinaryHeap::new();
        dist.insert(start.clone(), 0);
        heap.push(Reverse((0u32, start.clone())));
        while let Some(Reverse((d, node))) = heap.pop() {
            if dist.get(&node).is_some_and(|&best| d > best) {
                continue;
            }
            for (next, w) in self.neighbours(&node) {
                let nd = d.saturating_add(*w);
                if dist.get(next).map_or(true, |&cur| nd < cur) {
                    dist.insert(next.clone(), nd);
                    heap.push(Reverse((nd, next.clone())));
                }
            }
        }
        dist
    }

    /// Topological order, or `None` when the graph has a cycle.
    pub fn topo_sort(&self) -> Option<Vec<N>> {
        let mut indegree: HashMap<&N, usize> = self.edges.keys().map(|n| (n, 0)).collect();
        for targets in self.edges.values() {
            for (t, _) in targets {
                *indegree.entry(t).or_insert(0) += 1;
            }
        }
        let mut ready: Vec<&N> = indegree.iter().filter(|(_, &d)| d == 0).map(|(n, _)| *n).collect();
        ready.sort();
        let mut out = Vec::with_capacity(indegree.len());
        while let Some(node) = ready.pop() {
            out.push(node.clone());
            for (next, _) in self.neighbours(node) {
                let d = indegree.get_mut(next)?;
                *d -= 1;
                if *d == 0 {
                    ready.push(next);
                    ready.sort_by(|a, b| b.cmp(a));
                }
            }
        }
        (out.len() == indegree.len()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_paths() {
        let mut g = Graph::new();
        g.add_edge("a", "b", 4);
        g.add_edge("a", "c", 1);
        g.add_edge("c", "b", 2);
        g.add_edge("b", "d", 5);
        let d = g.dijkstra(&"a");
        assert_eq!(d[&"b"], 3);
        assert_eq!(d[&"d"], 8);
        assert_eq!(g.topo_sort().unwrap().first(), Some(&"a"));
    }
}
