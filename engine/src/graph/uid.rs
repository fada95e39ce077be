//! Stable operator ids: what a checkpoint or savepoint matches operators by when a job
//! restores it. An id is the one given with [`DataStream::uid`](crate::DataStream::uid),
//! or else derived from the graph, as Flink hashes the topology: the node's position, its
//! kind (its name without the source location) and the ids of its inputs. An unchanged job
//! keeps its derived ids; a job whose graph changed should name its stateful operators and
//! sources.

use super::NodeSpec;
use crate::error::{Result, SpateError};

/// Checks a user-given id: non-empty, printable, no whitespace (it is a manifest word).
pub(crate) fn check_uid(uid: &str) -> Result<()> {
    if uid.is_empty() || uid.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SpateError::Config(format!(
            "operator uid '{}' is not valid: use a non-empty id without whitespace",
            uid.escape_debug()
        )));
    }
    if uid.starts_with("auto-") {
        return Err(SpateError::Config(format!(
            "operator uid '{uid}' is not valid: ids starting with 'auto-' are derived ones"
        )));
    }
    Ok(())
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike `std`'s hasher).
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// The stable id of every node, in node order; an error names a repeated id.
pub(crate) fn stable_ids(nodes: &[NodeSpec]) -> Result<Vec<String>> {
    let mut ids: Vec<String> = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let id = match &n.uid {
            Some(u) => {
                check_uid(u)?;
                u.to_string()
            }
            None => {
                let mut h = 0xcbf2_9ce4_8422_2325u64;
                fnv(&mut h, &(i as u64).to_le_bytes());
                let kind = n.name.split(" at ").next().unwrap_or("");
                fnv(&mut h, kind.as_bytes());
                for (input, port) in &n.inputs {
                    let up = ids.get(*input).map_or("", |s| s.as_str());
                    fnv(&mut h, &[0xff]);
                    fnv(&mut h, up.as_bytes());
                    fnv(&mut h, &(*port as u64).to_le_bytes());
                }
                format!("auto-{h:016x}")
            }
        };
        if let Some(j) = ids.iter().position(|x| *x == id) {
            return Err(SpateError::Config(format!(
                "operators '{}' and '{}' have the same uid '{id}': uids must be unique",
                nodes[j].name, n.name
            )));
        }
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Instantiate, NodeFactory, ShardNode};

    struct Nothing;
    impl NodeFactory for Nothing {
        fn instantiate(&mut self, _cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
            Err(SpateError::Internal("not used".into()))
        }
    }

    fn node(name: &str, inputs: Vec<(usize, usize)>, uid: Option<&str>) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            uid: uid.map(Into::into),
            inputs,
            side_ports: Vec::new(),
            factory: Box::new(Nothing),
        }
    }

    #[test]
    fn derived_ids_are_stable_and_ignore_source_locations() {
        let a = vec![
            node("generate at a.rs:1", vec![], None),
            node("map at a.rs:2", vec![(0, 0)], None),
        ];
        let b = vec![
            node("generate at b.rs:9", vec![], None),
            node("map at b.rs:20", vec![(0, 0)], None),
        ];
        let ids = stable_ids(&a).unwrap();
        assert_eq!(ids, stable_ids(&b).unwrap());
        assert!(ids[0].starts_with("auto-") && ids[0] != ids[1]);
        // Another input, or another kind, gives another id.
        let c = vec![
            node("generate at a.rs:1", vec![], Some("src")),
            node("map at a.rs:2", vec![(0, 0)], None),
        ];
        assert_ne!(stable_ids(&c).unwrap()[1], ids[1]);
        let d = vec![
            node("generate at a.rs:1", vec![], None),
            node("filter at a.rs:2", vec![(0, 0)], None),
        ];
        assert_ne!(stable_ids(&d).unwrap()[1], ids[1]);
    }

    #[test]
    fn repeated_and_malformed_uids_are_refused() {
        let e = stable_ids(&[node("a", vec![], Some("x")), node("b", vec![], Some("x"))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("same uid 'x'"), "{e}");
        for bad in ["", "a b", "auto-1"] {
            assert!(
                stable_ids(&[node("a", vec![], Some(bad))]).is_err(),
                "{bad:?}"
            );
        }
    }
}
