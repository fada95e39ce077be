//! The references the window join and co-group are checked against: the nested loop over
//! the windows' definition, and Flink's window operator rules over the tagged union.

use std::collections::BTreeMap;

use spate::join::Either;
use spate::window::TimeWindow;

pub type Rec = (u8, i64, u32); // (key, timestamp, id)
pub type E = Either<Rec, Rec>;
pub type Pair = (u8, i64, u32, u32); // (key, output timestamp = window end - 1, left id, right id)
pub type Group = (u8, i64, i64, Vec<u32>, Vec<u32>); // (key, start, end, left ids, right ids)

pub fn rec(e: &E) -> &Rec {
    match e {
        Either::Left(r) | Either::Right(r) => r,
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Tumbling(i64),
    Sliding(i64, i64),
    Session(i64),
}

pub fn assign(kind: Kind, ts: i64) -> Vec<TimeWindow> {
    match kind {
        Kind::Tumbling(size) => {
            let s = ts - ts.rem_euclid(size);
            vec![TimeWindow::new(s, s + size)]
        }
        Kind::Sliding(size, slide) => {
            let mut out = Vec::new();
            let mut s = ts - ts.rem_euclid(slide);
            while s > ts - size {
                out.push(TimeWindow::new(s, s + size));
                s -= slide;
            }
            out
        }
        Kind::Session(gap) => vec![TimeWindow::new(ts, ts + gap)],
    }
}

/// What a job produced.
#[derive(Debug, PartialEq)]
pub struct Outputs {
    pub pairs: Vec<Pair>,
    pub groups: Vec<Group>,
    pub late_join: Vec<E>,
    pub late_co_group: Vec<E>,
}

/// A sorted group from the elements of one window.
pub fn group(key: u8, w: &TimeWindow, left: &[Rec], right: &[Rec]) -> Group {
    let ids = |s: &[Rec]| {
        let mut v: Vec<u32> = s.iter().map(|r| r.2).collect();
        v.sort();
        v
    };
    (key, w.start, w.end, ids(left), ids(right))
}

/// The nested loop over the definition, for input with no late data and no early firing:
/// every pair of a key's left and right elements, once per window holding both.
pub fn definition(input: &[E], kind: Kind) -> Outputs {
    // (key, window) → (left, right) elements, windows by definition.
    let mut windows: BTreeMap<(u8, TimeWindow), (Vec<Rec>, Vec<Rec>)> = BTreeMap::new();
    match kind {
        Kind::Session(gap) => {
            let mut by_key: BTreeMap<u8, Vec<&E>> = BTreeMap::new();
            for e in input {
                by_key.entry(rec(e).0).or_default().push(e);
            }
            for (k, mut es) in by_key {
                es.sort_by_key(|e| rec(e).1);
                let mut sessions: Vec<(TimeWindow, Vec<&E>)> = Vec::new();
                for e in es {
                    let w = TimeWindow::new(rec(e).1, rec(e).1 + gap);
                    match sessions.last_mut() {
                        Some((cur, members)) if w.start <= cur.end => {
                            *cur = cur.cover(&w);
                            members.push(e);
                        }
                        _ => sessions.push((w, vec![e])),
                    }
                }
                for (w, members) in sessions {
                    let slot = windows.entry((k, w)).or_default();
                    for e in members {
                        match e {
                            Either::Left(r) => slot.0.push(*r),
                            Either::Right(r) => slot.1.push(*r),
                        }
                    }
                }
            }
        }
        _ => {
            for e in input {
                for w in assign(kind, rec(e).1) {
                    let slot = windows.entry((rec(e).0, w)).or_default();
                    match e {
                        Either::Left(r) => slot.0.push(*r),
                        Either::Right(r) => slot.1.push(*r),
                    }
                }
            }
        }
    }
    let mut pairs = Vec::new();
    let mut groups = Vec::new();
    for ((k, w), (l, r)) in &windows {
        for a in l {
            for b in r {
                pairs.push((*k, w.end - 1, a.2, b.2));
            }
        }
        groups.push(group(*k, w, l, r));
    }
    pairs.sort();
    groups.sort();
    Outputs {
        pairs,
        groups,
        late_join: Vec::new(),
        late_co_group: Vec::new(),
    }
}

pub type Firing = (u8, TimeWindow, Vec<E>);

/// Flink's window operator rules over the tagged union, written out plainly (as in
/// `windows_model.rs`): live windows per key with their elements, `(time, key, window)`
/// timers (fire at `end - 1`, cleanup at `end - 1 + lateness`), a punctuated watermark
/// `max_ts - delay - 1`; each firing hands its window's elements to the join or co-group.
pub fn flink_rules(input: &[E], kind: Kind, delay: i64, lateness: i64) -> (Vec<Firing>, Vec<E>) {
    type Live = BTreeMap<(u8, TimeWindow), Vec<E>>;
    type Timers = std::collections::BTreeSet<(i64, u8, TimeWindow)>;
    let merging = matches!(kind, Kind::Session(_));
    let cleanup = |w: &TimeWindow| w.end - 1 + lateness;
    let mut live: Live = BTreeMap::new();
    let mut timers: Timers = Timers::new();
    let (mut fired, mut late) = (Vec::new(), Vec::new());
    let (mut wm, mut max_ts) = (i64::MIN, i64::MIN);
    let advance = |to: i64, live: &mut Live, timers: &mut Timers, fired: &mut Vec<Firing>| {
        while let Some(&(t, k, w)) = timers.iter().next() {
            if t > to {
                break;
            }
            timers.remove(&(t, k, w));
            let Some(els) = live.get(&(k, w)) else {
                continue;
            };
            if t == w.end - 1 {
                fired.push((k, w, els.clone()));
            }
            if t == cleanup(&w) {
                live.remove(&(k, w));
                timers.remove(&(w.end - 1, k, w));
            }
        }
    };
    for e in input {
        let (k, ts) = (rec(e).0, rec(e).1);
        let mut skipped = true;
        for w in assign(kind, ts) {
            let actual = if merging {
                let mut cover = w;
                let mut els = Vec::new();
                let mut merged_any = false;
                while let Some((_, x)) = live
                    .keys()
                    .find(|(kk, x)| *kk == k && x.intersects(&cover) && *x != cover)
                    .copied()
                {
                    els.extend(live.remove(&(k, x)).unwrap_or_default());
                    timers.remove(&(x.end - 1, k, x));
                    timers.remove(&(cleanup(&x), k, x));
                    cover = cover.cover(&x);
                    merged_any = true;
                }
                if let Some(existing) = live.get_mut(&(k, cover)) {
                    existing.extend(els);
                } else {
                    if cleanup(&cover) <= wm {
                        continue; // a late window: retired, the element not added
                    }
                    live.insert((k, cover), els);
                }
                if merged_any && cover.end - 1 > wm {
                    timers.insert((cover.end - 1, k, cover));
                }
                cover
            } else {
                w
            };
            if cleanup(&actual) <= wm {
                continue;
            }
            skipped = false;
            live.entry((k, actual)).or_default().push(*e);
            if actual.end - 1 <= wm {
                fired.push((k, actual, live[&(k, actual)].clone()));
            } else {
                timers.insert((actual.end - 1, k, actual));
            }
            timers.insert((cleanup(&actual), k, actual));
        }
        if skipped && ts + lateness <= wm {
            late.push(*e);
        }
        max_ts = max_ts.max(ts);
        if max_ts - delay - 1 > wm {
            wm = max_ts - delay - 1;
            advance(wm, &mut live, &mut timers, &mut fired);
        }
    }
    advance(i64::MAX, &mut live, &mut timers, &mut fired);
    (fired, late)
}

/// The join (nested loop) and co-group of each firing of [`flink_rules`].
pub fn reference(input: &[E], kind: Kind, delay: i64, lateness: i64) -> Outputs {
    let (fired, mut late) = flink_rules(input, kind, delay, lateness);
    let (mut pairs, mut groups) = (Vec::new(), Vec::new());
    for (k, w, els) in fired {
        let left: Vec<Rec> = els.iter().filter_map(|e| e.left()).collect();
        let right: Vec<Rec> = els.iter().filter_map(|e| e.right()).collect();
        for a in &left {
            for b in &right {
                pairs.push((k, w.end - 1, a.2, b.2));
            }
        }
        groups.push(group(k, &w, &left, &right));
    }
    pairs.sort();
    groups.sort();
    late.sort();
    Outputs {
        pairs,
        groups,
        late_co_group: late.clone(),
        late_join: late,
    }
}

/// Gives every run of elements between two watermark advances the side of its first
/// element (see the module docs).
pub fn single_sided_runs(input: &mut [E], delay: i64) {
    let (mut wm, mut max_ts) = (i64::MIN, i64::MIN);
    let mut side: Option<bool> = None;
    for e in input.iter_mut() {
        let r = *rec(e);
        *e = if *side.get_or_insert(e.is_left()) {
            Either::Left(r)
        } else {
            Either::Right(r)
        };
        max_ts = max_ts.max(r.1);
        if max_ts - delay - 1 > wm {
            wm = max_ts - delay - 1;
            side = None;
        }
    }
}
