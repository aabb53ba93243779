//! An optimisation of long runs of prefix tests, the shape Calico's generated filters have
//! (`calico_aggr()`: three `if net ... B` per local block; `calico_kernel_programming` and
//! `calico_export_to_bgp_peers()`: one `if net ~ POOL` per pool).
//!
//! A statement `if C then ...` (without `else`) whose condition implies that `net` lies inside
//! a constant prefix P (`net ~ P`, `net = P`, or either as a conjunct of `&&`) can only do
//! something for routes inside P: P is its *guard*. A run of at least [`MIN_RUN`] consecutive
//! guarded statements becomes one [`PrefixIndex`], which finds the statements whose guard
//! contains the route's prefix by a binary search per distinct guard length, and runs those
//! (and only those) in their original order, each with its full condition. The result is the
//! same as running the whole run; the cost no longer grows with the number of pools and
//! blocks.

use ipnet::IpNet;
use smallvec::SmallVec;

use super::ir::{Attr, CmpOp, Expr, Stmt};
use super::value::Value;

/// Shortest run worth indexing.
pub const MIN_RUN: usize = 4;

/// A run of guarded `if` statements, indexed by guard.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixIndex {
    /// The statements, in their original order.
    pub stmts: Vec<Stmt>,
    /// (guard as a [`Key`], statement index), sorted: integer keys, so the binary search
    /// compares integers rather than `IpNet`s.
    entries: Vec<(Key, u32)>,
    /// Distinct guard lengths, IPv4 and IPv6.
    lens_v4: Vec<u8>,
    lens_v6: Vec<u8>,
}

/// A truncated prefix as integers: (IPv6, length, network address).
type Key = (bool, u8, u128);

fn key(net: &IpNet, len: u8) -> Key {
    let l = u32::from(len);
    match net {
        IpNet::V4(n) => {
            let mask = u32::MAX.checked_shl(32u32.saturating_sub(l)).unwrap_or(0);
            (false, len, u128::from(u32::from(n.addr()) & mask))
        }
        IpNet::V6(n) => {
            let mask = u128::MAX.checked_shl(128u32.saturating_sub(l)).unwrap_or(0);
            (true, len, u128::from(n.addr()) & mask)
        }
    }
}

fn is_net(e: &Expr) -> bool {
    matches!(e, Expr::Attr(Attr::Net))
}

/// The prefix a condition forces `net` into, if any.
fn guard(c: &Expr) -> Option<IpNet> {
    match c {
        Expr::Match {
            negated: false,
            left,
            right,
        } if is_net(left) => match &**right {
            Expr::Const(Value::Prefix(p)) => Some(p.trunc()),
            _ => None,
        },
        Expr::Cmp(CmpOp::Eq, x, y) => match (&**x, &**y) {
            (n, Expr::Const(Value::Prefix(p))) | (Expr::Const(Value::Prefix(p)), n)
                if is_net(n) =>
            {
                Some(p.trunc())
            }
            _ => None,
        },
        Expr::And(x, y) => guard(x).or_else(|| guard(y)),
        _ => None,
    }
}

pub(super) fn stmt_guard(s: &Stmt) -> Option<IpNet> {
    match s {
        Stmt::If {
            cond, otherwise, ..
        } if otherwise.is_empty() => guard(cond),
        _ => None,
    }
}

impl PrefixIndex {
    fn new(stmts: Vec<Stmt>) -> Self {
        let mut entries = Vec::with_capacity(stmts.len());
        let (mut lens_v4, mut lens_v6) = (Vec::new(), Vec::new());
        for (i, s) in stmts.iter().enumerate() {
            if let (Some(g), Ok(i)) = (stmt_guard(s), u32::try_from(i)) {
                entries.push((key(&g, g.prefix_len()), i));
                let lens = if g.addr().is_ipv4() {
                    &mut lens_v4
                } else {
                    &mut lens_v6
                };
                lens.push(g.prefix_len());
            }
        }
        entries.sort_unstable();
        for l in [&mut lens_v4, &mut lens_v6] {
            l.sort_unstable();
            l.dedup();
        }
        PrefixIndex {
            stmts,
            entries,
            lens_v4,
            lens_v6,
        }
    }

    /// The statements that can apply to `net`, in order.
    pub fn candidates(&self, net: &IpNet) -> impl Iterator<Item = &Stmt> {
        let mut idx: SmallVec<[u32; 16]> = SmallVec::new();
        let lens = if net.addr().is_ipv4() {
            &self.lens_v4
        } else {
            &self.lens_v6
        };
        let mut runs = 0;
        for &l in lens.iter().take_while(|&&l| l <= net.prefix_len()) {
            let key = key(net, l);
            let start = self.entries.partition_point(|(p, _)| *p < key);
            let before = idx.len();
            for (p, i) in self.entries.get(start..).unwrap_or_default() {
                if *p != key {
                    break;
                }
                idx.push(*i);
            }
            runs += usize::from(idx.len() > before);
        }
        // One guard length matched: its entries are sorted by statement already (and
        // distinct); several: merge them.
        if runs > 1 {
            idx.sort_unstable();
            idx.dedup();
        }
        idx.into_iter()
            .filter_map(|i| usize::try_from(i).ok().and_then(|i| self.stmts.get(i)))
    }
}

/// Rewrites a body (recursively) with runs of guarded statements indexed.
pub(crate) fn optimize(body: Vec<Stmt>) -> Vec<Stmt> {
    let mut out = Vec::with_capacity(body.len());
    let mut run: Vec<Stmt> = Vec::new();
    let flush = |run: &mut Vec<Stmt>, out: &mut Vec<Stmt>| {
        if run.len() >= MIN_RUN {
            out.push(Stmt::Indexed(std::sync::Arc::new(PrefixIndex::new(
                std::mem::take(run),
            ))));
        } else {
            out.append(run);
        }
    };
    for s in body {
        let s = match s {
            Stmt::If {
                cond,
                then,
                otherwise,
            } => Stmt::If {
                cond,
                then: optimize(then),
                otherwise: optimize(otherwise),
            },
            Stmt::Block(b) => Stmt::Block(optimize(b)),
            s => s,
        };
        if stmt_guard(&s).is_some() {
            run.push(s);
        } else {
            flush(&mut run, &mut out);
            out.push(s);
        }
    }
    flush(&mut run, &mut out);
    out
}
