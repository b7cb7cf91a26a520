//! pstats: the profile as the binary file `pstats.Stats(path)` (and
//! snakeviz, and every tool built on it) reads: a `marshal` dump of
//! `{(file, line, function): (cc, nc, tt, ct, {caller: (cc, nc, tt, ct)})}`.
//!
//! A sampling profiler does not count calls: as pyinstrument 5 does, each
//! node of the call tree counts as one call (so `nc` is the number of
//! distinct call paths that reached the function). `tt` is the time the
//! samples saw in the function itself, `ct` the time with everything it
//! called, each sample counted once even when the function is on the stack
//! several times (recursion), as cProfile counts it. Nothing is hidden or
//! removed: pstats users sort and filter themselves.
//!
//! Only marshal types that Python 2.7 and every 3.x read are written:
//! `{`/`0` dict, `(` tuple, `i` int32, `g` binary float, `u` UTF-8 string.

use crate::session::Session;
use crate::tree::{self, Node};
use std::collections::HashMap;

#[derive(Default, Clone, Copy)]
struct Counts {
    /// Primitive calls (not made from inside the same function).
    cc: u32,
    nc: u32,
    tt: f64,
    ct: f64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.cc += other.cc;
        self.nc += other.nc;
        self.tt += other.tt;
        self.ct += other.ct;
    }
}

#[derive(Default)]
struct Entry {
    counts: Counts,
    callers: Vec<(u32, Counts)>,
}

/// The pstats file for `session`.
pub fn render(session: &Session) -> Vec<u8> {
    let root = tree::build(session);
    let mut entries: HashMap<u32, Entry> = HashMap::new();
    let mut on_path: HashMap<u32, u32> = HashMap::new();
    for child in &root.children {
        visit(child, None, &mut entries, &mut on_path);
    }
    // The file is the same for the same session: entries in frame order.
    let mut frames: Vec<u32> = entries.keys().copied().collect();
    frames.sort_unstable();

    let mut out = Vec::new();
    out.push(b'{');
    for frame in frames {
        let entry = &entries[&frame];
        key(&mut out, session, frame);
        tuple_header(&mut out, 5);
        counts(&mut out, entry.counts);
        out.push(b'{');
        for (caller, c) in &entry.callers {
            key(&mut out, session, *caller);
            tuple_header(&mut out, 4);
            counts(&mut out, *c);
        }
        out.push(b'0');
    }
    out.push(b'0');
    out
}

fn visit(
    node: &Node,
    parent: Option<u32>,
    entries: &mut HashMap<u32, Entry>,
    on_path: &mut HashMap<u32, u32>,
) {
    let Some(frame) = node.frame else {
        return; // only the synthetic root has none in a built tree
    };
    let depth = on_path.entry(frame).or_insert(0);
    let recursive = *depth > 0;
    *depth += 1;
    let counts = Counts {
        cc: u32::from(!recursive),
        nc: 1,
        tt: node.self_time,
        // Time already counted for an outer call of the same function.
        ct: if recursive { 0.0 } else { node.time },
    };
    let entry = entries.entry(frame).or_default();
    entry.counts.add(counts);
    if let Some(parent) = parent {
        match entry.callers.iter_mut().find(|(p, _)| *p == parent) {
            Some((_, c)) => c.add(counts),
            None => entry.callers.push((parent, counts)),
        }
    }
    for child in &node.children {
        visit(child, Some(frame), entries, on_path);
    }
    if let Some(depth) = on_path.get_mut(&frame) {
        *depth -= 1;
    }
}

/// `(file, line, function)`, as cProfile names a function.
fn key(out: &mut Vec<u8>, session: &Session, frame: u32) {
    let f = &session.frames[frame as usize];
    tuple_header(out, 3);
    string(out, &f.file);
    int(out, i32::try_from(f.line).unwrap_or(i32::MAX));
    string(out, &f.function);
}

fn counts(out: &mut Vec<u8>, c: Counts) {
    int(out, i32::try_from(c.cc).unwrap_or(i32::MAX));
    int(out, i32::try_from(c.nc).unwrap_or(i32::MAX));
    float(out, c.tt);
    float(out, c.ct);
}

fn tuple_header(out: &mut Vec<u8>, len: u32) {
    out.push(b'(');
    out.extend_from_slice(&len.to_le_bytes());
}

fn int(out: &mut Vec<u8>, value: i32) {
    out.push(b'i');
    out.extend_from_slice(&value.to_le_bytes());
}

fn float(out: &mut Vec<u8>, value: f64) {
    out.push(b'g');
    out.extend_from_slice(&value.to_le_bytes());
}

fn string(out: &mut Vec<u8>, value: &str) {
    out.push(b'u');
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{FrameId, StackRecord};

    #[test]
    fn marshal_bytes_of_a_small_profile() {
        let mut s = Session::from_json(crate::session::tests::MINIMAL).unwrap();
        s.frames = vec![FrameId::new("f", "a.py", 1)];
        s.stacks = vec![StackRecord {
            frames: vec![0, 0],
            time: 0.5,
            samples: 5,
        }];
        let bytes = render(&s);
        let mut want = vec![b'{'];
        let f_key = |out: &mut Vec<u8>| {
            tuple_header(out, 3);
            string(out, "a.py");
            int(out, 1);
            string(out, "f");
        };
        f_key(&mut want);
        tuple_header(&mut want, 5);
        // Called twice (f -> f), once primitively; the inner call's time is
        // not counted twice in ct.
        counts(
            &mut want,
            Counts {
                cc: 1,
                nc: 2,
                tt: 0.5,
                ct: 0.5,
            },
        );
        want.push(b'{');
        f_key(&mut want);
        tuple_header(&mut want, 4);
        counts(
            &mut want,
            Counts {
                cc: 0,
                nc: 1,
                tt: 0.5,
                ct: 0.0,
            },
        );
        want.extend_from_slice(b"00");
        assert_eq!(bytes, want);
    }
}
