//! The compiled statements laid out flat for the executor: a body becomes one array of
//! [`Insn`]s with jumps, run by a loop ([`super::exec`]) instead of a recursive walk of the
//! statement tree. `if`s become conditional jumps, `&&`, `||` and `!` in their conditions
//! become jumps too (short-circuit order and errors as before), the bodies of leaf and
//! specialised calls ([`Op::Leaf`], [`Op::Inline`]) are laid out in place, and each statement
//! of a prefix index is its own short array, run when the index selects it.
//!
//! The profile behind it (callgrind, Calico's export filter): a call of the tree walker's
//! `op` per statement, with its prologue, dispatch and epilogue, was a third of the
//! instructions per route.

use std::sync::Arc;

use super::code::{Cond, Ex, Index, IntEx, Level, NetKey, Op};
use super::ir::{Attr, CmpOp};
use super::prefix::Glob;
use super::value::{EnumValue, Type, Value};
use crate::rib::attrs::KernelTunnel;

/// One instruction. Jump targets are indices into the same array; a target at its end ends
/// the body.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(super) enum Insn {
    /// Jump to `to` when the condition is `when`.
    Branch {
        cond: Cond,
        when: bool,
        to: u32,
    },
    // The hot conditions' jumps, one dispatch each: jump to `to` when the test is `hit`.
    /// `ifname ~ glob`.
    IfnameBranch {
        glob: Glob,
        hit: bool,
        to: u32,
    },
    /// `net ~ P` for the truncated address, length and mask of P.
    NetInBranch {
        v6: bool,
        len: u8,
        addr: u128,
        mask: u128,
        hit: bool,
        to: u32,
    },
    /// `net = P`.
    NetEqBranch {
        key: NetKey,
        hit: bool,
        to: u32,
    },
    /// `source = E`.
    SourceBranch {
        value: EnumValue,
        hit: bool,
        to: u32,
    },
    /// `defined(attr)`.
    DefinedBranch {
        attr: Attr,
        hit: bool,
        to: u32,
    },
    /// A comparison of int expressions.
    IntBranch {
        op: CmpOp,
        x: IntEx,
        y: IntEx,
        hit: bool,
        to: u32,
    },
    /// `krt_tunnel = "S"` (`Direct` for ""), S being `text`.
    SetTunnel(Arc<str>, KernelTunnel),
    Jump(u32),
    Accept,
    Reject,
    SetInt(Attr, IntEx),
    SetAttr(Attr, Ex),
    Unset(Attr),
    /// `var = e`: the slot and its declared type (`None`: outside the frame, an error).
    SetVar(u16, Option<Type>, Ex),
    Print(Box<[Ex]>, bool),
    Call(u32, Box<[Ex]>),
    Eval(Ex),
    Return(Option<Ex>),
    Index(Box<FlatIndex>),
    /// The depth limit of a call run in place (inside a function: outside, the depth is
    /// known to be below the limit).
    CheckDepth,
    /// The start and end of a specialised body with calls in it: its calls count one deeper.
    Enter,
    Leave,
}

/// A prefix index ([`Index`]) with each of its statements laid out on its own.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FlatIndex {
    pub ops: Box<[Box<[Insn]>]>,
    pub v4: Box<[Level]>,
    pub v6: Box<[Level]>,
}

/// Lays out a body. `top`: the filter's own body, where the call depth is 0.
pub(super) fn lay_out(body: &[Op], top: bool) -> Box<[Insn]> {
    let mut l = Layout {
        code: Vec::new(),
        top,
    };
    l.ops(body);
    l.code.into_boxed_slice()
}

struct Layout {
    code: Vec<Insn>,
    top: bool,
}

impl Layout {
    fn here(&self) -> u32 {
        u32::try_from(self.code.len()).unwrap_or(u32::MAX)
    }

    /// Points the jumps at `at` to the current end.
    fn patch(&mut self, at: &[usize]) {
        let here = self.here();
        for &i in at {
            if let Some(
                Insn::Branch { to, .. }
                | Insn::IfnameBranch { to, .. }
                | Insn::NetInBranch { to, .. }
                | Insn::NetEqBranch { to, .. }
                | Insn::SourceBranch { to, .. }
                | Insn::DefinedBranch { to, .. }
                | Insn::IntBranch { to, .. }
                | Insn::Jump(to),
            ) = self.code.get_mut(i)
            {
                *to = here;
            }
        }
    }

    fn ops(&mut self, body: &[Op]) {
        for o in body {
            self.op(o);
        }
    }

    fn op(&mut self, o: &Op) {
        match o {
            Op::If(c, then, otherwise) => {
                let to_else = self.branch(c, false);
                self.ops(then);
                if otherwise.is_empty() {
                    self.patch(&to_else);
                } else {
                    let end = self.code.len();
                    self.code.push(Insn::Jump(0));
                    self.patch(&to_else);
                    self.ops(otherwise);
                    self.patch(&[end]);
                }
            }
            Op::Accept => self.code.push(Insn::Accept),
            Op::Reject => self.code.push(Insn::Reject),
            Op::Return(e) => self.code.push(Insn::Return(e.clone())),
            Op::SetAttr(Attr::KrtTunnel, Ex::Const(Value::String(s))) => {
                let t = if s.is_empty() {
                    KernelTunnel::Direct
                } else {
                    KernelTunnel::Dev(s.clone())
                };
                self.code.push(Insn::SetTunnel(s.clone(), t));
            }
            Op::SetAttr(a, e) => self.code.push(Insn::SetAttr(*a, e.clone())),
            Op::SetInt(a, x) => self.code.push(Insn::SetInt(*a, x.clone())),
            Op::Unset(a) => self.code.push(Insn::Unset(*a)),
            Op::SetVar(s, ty, e) => self.code.push(Insn::SetVar(*s, *ty, e.clone())),
            Op::Print(args, newline) => self.code.push(Insn::Print(args.clone(), *newline)),
            Op::Call(id, args) => self.code.push(Insn::Call(*id, args.clone())),
            Op::Eval(e) => self.code.push(Insn::Eval(e.clone())),
            Op::Leaf(body) => {
                // No calls inside: the depth matters only for this check.
                if !self.top {
                    self.code.push(Insn::CheckDepth);
                }
                self.ops(body);
            }
            Op::Inline(body) => {
                if !self.top {
                    self.code.push(Insn::CheckDepth);
                }
                let deeper = !self.top || has_calls(body);
                if deeper {
                    self.code.push(Insn::Enter);
                }
                self.ops(body);
                if deeper {
                    self.code.push(Insn::Leave);
                }
            }
            Op::Index(ix) => self.code.push(Insn::Index(Box::new(self.index(ix)))),
        }
    }

    fn index(&self, ix: &Index) -> FlatIndex {
        // Each statement's guard: the index runs a statement only when its guard contains the
        // route's prefix, so a first test `net ~ GUARD` is known to hold there.
        let mut guards: Vec<Option<(bool, u128, u8)>> = vec![None; ix.ops.len()];
        for (v6, levels) in [(false, &ix.v4), (true, &ix.v6)] {
            for l in levels.iter() {
                for &(addr, i) in l.keys.iter() {
                    if let Some(g) = usize::try_from(i).ok().and_then(|i| guards.get_mut(i)) {
                        *g = Some((v6, addr, l.len));
                    }
                }
            }
        }
        let ops = ix.ops.iter().zip(guards).map(|(o, g)| {
            let Op::If(c, then, otherwise) = o else {
                return lay_out(std::slice::from_ref(o), self.top);
            };
            match g.and_then(|g| without_guard(c, g)) {
                Some(None) if otherwise.is_empty() => lay_out(then, self.top),
                Some(Some(rest)) if otherwise.is_empty() => {
                    lay_out(&[Op::If(rest, then.clone(), Box::new([]))], self.top)
                }
                _ => lay_out(std::slice::from_ref(o), self.top),
            }
        });
        FlatIndex {
            ops: ops.collect(),
            v4: ix.v4.clone(),
            v6: ix.v6.clone(),
        }
    }

    /// Emits the jumps taken when `c` is `when` (falling through otherwise) and returns
    /// where they are, for [`Layout::patch`].
    fn branch(&mut self, c: &Cond, when: bool) -> Vec<usize> {
        match c {
            Cond::Const(b) if *b == when => {
                self.code.push(Insn::Jump(0));
                vec![self.code.len() - 1]
            }
            Cond::Const(_) => Vec::new(),
            Cond::Not(x) => self.branch(x, !when),
            // `x && y` is false when x is; `x || y` true when x is.
            Cond::And(x, y) | Cond::Or(x, y) => {
                let or = matches!(c, Cond::Or(..));
                if when == or {
                    let mut jumps = self.branch(x, when);
                    jumps.extend(self.branch(y, when));
                    jumps
                } else {
                    let skip = self.branch(x, !when);
                    let jumps = self.branch(y, when);
                    self.patch(&skip);
                    jumps
                }
            }
            c => {
                self.code.push(match c {
                    Cond::Ifname { negated, glob } => Insn::IfnameBranch {
                        glob: glob.clone(),
                        hit: when != *negated,
                        to: 0,
                    },
                    Cond::NetIn {
                        negated,
                        v6,
                        addr,
                        len,
                        mask,
                    } => Insn::NetInBranch {
                        v6: *v6,
                        len: *len,
                        addr: *addr,
                        mask: *mask,
                        hit: when != *negated,
                        to: 0,
                    },
                    Cond::NetEq { equal, key } => Insn::NetEqBranch {
                        key: *key,
                        hit: when == *equal,
                        to: 0,
                    },
                    Cond::SourceIs { equal, value } => Insn::SourceBranch {
                        value: *value,
                        hit: when == *equal,
                        to: 0,
                    },
                    Cond::Defined(attr) => Insn::DefinedBranch {
                        attr: *attr,
                        hit: when,
                        to: 0,
                    },
                    Cond::IntCmp(op, x, y) => Insn::IntBranch {
                        op: *op,
                        x: x.clone(),
                        y: y.clone(),
                        hit: when,
                        to: 0,
                    },
                    c => Insn::Branch {
                        cond: c.clone(),
                        when,
                        to: 0,
                    },
                });
                vec![self.code.len() - 1]
            }
        }
    }
}

/// Whether a call may be made in the statements of a specialised body (which has no
/// variables or `return`): anything but leaf statements and leaf bodies.
fn has_calls(ops: &[Op]) -> bool {
    ops.iter().any(|o| match o {
        Op::Leaf(body) => has_calls(body),
        Op::If(c, then, otherwise) => {
            !super::inline::is_leaf(&[Op::If(c.clone(), Box::new([]), Box::new([]))])
                || has_calls(then)
                || has_calls(otherwise)
        }
        Op::Index(ix) => has_calls(&ix.ops),
        o => !super::inline::is_leaf(std::slice::from_ref(o)),
    })
}

/// A condition whose first test is `net ~ G` for the guard G = (IPv6, address, length),
/// without that test: `Some(None)` when nothing is left. `None` when it does not start so.
fn without_guard(c: &Cond, g: (bool, u128, u8)) -> Option<Option<Cond>> {
    match c {
        Cond::NetIn {
            negated: false,
            v6,
            addr,
            len,
            ..
        } if (*v6, *addr, *len) == g => Some(None),
        Cond::And(x, y) => Some(Some(match without_guard(x, g)? {
            None => (**y).clone(),
            Some(x) => Cond::And(Box::new(x), y.clone()),
        })),
        _ => None,
    }
}
