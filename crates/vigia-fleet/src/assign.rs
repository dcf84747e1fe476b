//! Rendezvous (highest random weight) hashing: a camera goes to the node with the highest
//! score for the pair. Every node computes the same answer from the same node list, with
//! no coordination; when a node leaves, only its cameras move (each to its next-best
//! node), and a node that joins takes only the cameras it now scores highest for.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

fn score(node: &str, camera: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update([0]);
    h.update(camera.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The node `camera` belongs to among `nodes` (none when there is no node).
pub fn owner<'a>(camera: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|n| (score(n, camera), n.as_str()))
        .map(String::as_str)
}

/// Every camera's node.
pub fn assign<'a>(cameras: &[String], nodes: &'a [String]) -> BTreeMap<String, &'a str> {
    cameras
        .iter()
        .filter_map(|c| owner(c, nodes).map(|n| (c.clone(), n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn balanced_and_stable() {
        let cams = names("cam-", 600);
        let nodes = names("edge-", 6);
        let a = assign(&cams, &nodes);
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for n in a.values() {
            *per.entry(n).or_default() += 1;
        }
        // 100 each on average; rendezvous hashing stays within a few standard deviations.
        assert!(per.values().all(|&k| (70..=130).contains(&k)), "{per:?}");
        // The same answer in any order of the node list.
        let mut shuffled = nodes.clone();
        shuffled.reverse();
        assert_eq!(assign(&cams, &shuffled), a);
    }

    #[test]
    fn a_node_leaving_moves_only_its_cameras_and_joining_takes_only_its_own() {
        let cams = names("cam-", 300);
        let nodes = names("edge-", 5);
        let before = assign(&cams, &nodes);
        let fewer: Vec<String> = nodes.iter().filter(|n| *n != "edge-2").cloned().collect();
        let after = assign(&cams, &fewer);
        for c in &cams {
            if before[c] != "edge-2" {
                assert_eq!(before[c], after[c], "{c} moved although its node stayed");
            }
        }
        let mut more = nodes.clone();
        more.push("edge-new".into());
        let joined = assign(&cams, &more);
        let moved = cams.iter().filter(|c| before[*c] != joined[*c]).count();
        assert!(
            cams.iter()
                .all(|c| before[c] == joined[c] || joined[c] == "edge-new")
        );
        assert!(
            (25..=75).contains(&moved),
            "≈ 1/6 of 300 move to the new node: {moved}"
        );
        assert_eq!(owner("x", &[]), None);
    }
}
