//! Which compiled statements may run in place of a call: leaf bodies (no frame, no calls:
//! [`is_leaf`]) and specialised bodies (no frame; calls allowed: [`frameless`]).

use super::code::{Cond, Ex, IntEx, MaskEx, Op};

/// No `return`, call or variable anywhere in the statements.
pub(super) fn is_leaf(ops: &[Op]) -> bool {
    ops_ok(ops, false)
}

/// No `return`, variable assignment or variable read anywhere in the statements (calls may
/// stay: they make their own frames).
pub(super) fn frameless(ops: &[Op]) -> bool {
    ops_ok(ops, true)
}

/// No `return` or variable anywhere, and no call unless `calls`.
fn ops_ok(ops: &[Op], calls: bool) -> bool {
    ops.iter().all(|o| match o {
        Op::If(c, then, otherwise) => {
            cond_ok(c, calls) && ops_ok(then, calls) && ops_ok(otherwise, calls)
        }
        Op::Accept | Op::Reject | Op::Unset(_) => true,
        Op::Return(_) | Op::Inline(_) | Op::SetVar(..) => false,
        Op::Leaf(b) => calls && ops_ok(b, calls),
        Op::Call(_, args) => calls && args.iter().all(|a| ex_ok(a, calls)),
        Op::SetAttr(_, e) | Op::Eval(e) => ex_ok(e, calls),
        Op::SetInt(_, x) => int_leaf(x),
        Op::Print(es, _) => es.iter().all(|e| ex_ok(e, calls)),
        Op::Index(ix) => ops_ok(&ix.ops, calls),
    })
}

/// No variable in the int expression.
pub(super) fn int_leaf(e: &IntEx) -> bool {
    match e {
        IntEx::Const(_) | IntEx::Attr(_) => true,
        IntEx::Var(_) => false,
        IntEx::Arith(_, x, y) => int_leaf(x) && int_leaf(y),
    }
}

fn cond_ok(c: &Cond, calls: bool) -> bool {
    match c {
        Cond::Const(_)
        | Cond::Defined(_)
        | Cond::NetIn { .. }
        | Cond::NetEq { .. }
        | Cond::SourceIs { .. }
        | Cond::SourceCmp(..)
        | Cond::Ifname { .. } => true,
        Cond::Not(x) => cond_ok(x, calls),
        Cond::And(x, y) | Cond::Or(x, y) => cond_ok(x, calls) && cond_ok(y, calls),
        Cond::IntCmp(_, x, y) => int_leaf(x) && int_leaf(y),
        Cond::DefinedEx(e)
        | Cond::CmpConst(_, e, _)
        | Cond::InCommunities { item: e, .. }
        | Cond::InLargeCommunities { item: e, .. }
        | Cond::MatchConst { left: e, .. }
        | Cond::Value(e, _) => ex_ok(e, calls),
        Cond::Cmp(_, x, y)
        | Cond::Match {
            left: x, right: y, ..
        } => ex_ok(x, calls) && ex_ok(y, calls),
    }
}

fn ex_ok(e: &Ex, calls: bool) -> bool {
    match e {
        Ex::Const(_) | Ex::Attr(_) => true,
        Ex::Var(_) => false,
        Ex::Call(_, args) => calls && args.iter().all(|a| ex_ok(a, calls)),
        Ex::Int(x) => int_leaf(x),
        Ex::Cond(c) => cond_ok(c, calls),
        Ex::Arith(_, x, y) | Ex::Pair(x, y) | Ex::Modify(_, x, y) => {
            ex_ok(x, calls) && ex_ok(y, calls)
        }
        Ex::Lc(x, y, z) => ex_ok(x, calls) && ex_ok(y, calls) && ex_ok(z, calls),
        Ex::Method(_, x) => ex_ok(x, calls),
        Ex::PathMask(items) => items.iter().all(|i| match i {
            MaskEx::Item(_) => true,
            MaskEx::Asn(x) => ex_ok(x, calls),
        }),
    }
}
