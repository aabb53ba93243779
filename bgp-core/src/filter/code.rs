//! The compiled form of a filter, built once when the filter is built, laid out flat by
//! [`super::flat`] and run by [`super::exec`]: the program tree with every shape the hot filters use turned into a
//! specialised node. Conditions are [`Cond`]s that answer a `bool` without building values;
//! integer expressions over the int attributes and int variables are [`IntEx`]s on unboxed
//! `Option<u32>` (`None` is void, which orders below every int as BIRD's void does); `net ~ P`
//! and `net = P` for a constant P are integer mask tests; string patterns are analysed once
//! ([`Glob`]); blocks are flattened (BIRD 1.6 blocks have no scope); variables have their
//! declared type at hand; runs of prefix-guarded statements are [`Index`]es with a sorted array
//! of integer keys per guard length. Everything else keeps a general node with the tree
//! interpreter's semantics, so the result is the same for every program.

use std::sync::Arc;

use ipnet::IpNet;

use super::flat::{lay_out, Insn};
use super::index::stmt_guard;
use super::inline::{frameless, is_leaf};
use super::ir::{ArithOp, Attr, CmpOp, Expr, Function, MaskTerm, Method, ModOp, Stmt, Var};
use super::ops::{convert, fits};
use super::prefix::Glob;
use super::route::{always_defined, Scalars};
use super::value::{EnumValue, MaskItem, Type, Value};

/// A prefix as integers: family, address (an IPv4 one in the low 32 bits), length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NetKey {
    pub v6: bool,
    pub addr: u128,
    pub len: u8,
}

impl NetKey {
    pub(super) fn of(n: &IpNet) -> NetKey {
        match n {
            IpNet::V4(n) => NetKey {
                v6: false,
                addr: u128::from(u32::from(n.addr())),
                len: n.prefix_len(),
            },
            IpNet::V6(n) => NetKey {
                v6: true,
                addr: u128::from(n.addr()),
                len: n.prefix_len(),
            },
        }
    }

    /// The address with only its first `len` bits kept.
    pub(super) fn trunc(&self, len: u8) -> u128 {
        self.addr & mask(self.v6, len)
    }
}

/// The mask keeping the first `len` bits of an address of the family.
pub(super) fn mask(v6: bool, len: u8) -> u128 {
    let bits: u32 = if v6 { 128 } else { 32 };
    let keep = bits.saturating_sub(u32::from(len));
    u128::MAX.checked_shl(keep).unwrap_or(0)
}

/// An integer expression: a value or void (`None`).
// An explicit tag: dispatch is a plain jump, not a niche decode.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(super) enum IntEx {
    Const(u32),
    /// `krt_metric`, `preference`, `bgp_local_pref` or `bgp_med`.
    Attr(Attr),
    /// A variable declared `int`.
    Var(u16),
    Arith(ArithOp, Box<IntEx>, Box<IntEx>),
}

/// A condition: a `bool` or a run-time error.
// An explicit tag: dispatch is a plain jump, not a niche decode.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(super) enum Cond {
    Const(bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// `defined(attr)` of an attribute that may be missing.
    Defined(Attr),
    /// `defined(e)` of another expression.
    DefinedEx(Ex),
    /// `net ~ P` (`negated`: `!~`) for a constant prefix P: `len` and truncated address.
    NetIn {
        negated: bool,
        v6: bool,
        addr: u128,
        len: u8,
        /// [`mask`] of `len`.
        mask: u128,
    },
    /// `net = P` (`equal` false: `!=`).
    NetEq {
        equal: bool,
        key: NetKey,
    },
    /// A comparison of two integer expressions.
    IntCmp(CmpOp, IntEx, IntEx),
    /// `source = E` (`equal` false: `!=`) for an enum constant E.
    SourceIs {
        equal: bool,
        value: EnumValue,
    },
    /// `source OP CONST` otherwise.
    SourceCmp(CmpOp, Value),
    /// A comparison with a constant on the right.
    CmpConst(CmpOp, Ex, Value),
    Cmp(CmpOp, Ex, Ex),
    /// `ifname ~ "PATTERN"`.
    Ifname {
        negated: bool,
        glob: Glob,
    },
    /// `x ~ bgp_community`.
    InCommunities {
        negated: bool,
        item: Ex,
    },
    /// `x ~ bgp_large_community`.
    InLargeCommunities {
        negated: bool,
        item: Ex,
    },
    /// `a ~ CONST`.
    MatchConst {
        negated: bool,
        left: Ex,
        right: Value,
    },
    Match {
        negated: bool,
        left: Ex,
        right: Ex,
    },
    /// Any other expression, which must give a bool, else the error.
    Value(Ex, &'static str),
}

/// An expression giving a value.
// An explicit tag: dispatch is a plain jump, not a niche decode.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(super) enum Ex {
    Const(Value),
    Attr(Attr),
    Var(u16),
    /// Integer arithmetic on integer expressions.
    Int(IntEx),
    /// A boolean operator, comparison, match or `defined`.
    Cond(Box<Cond>),
    Arith(ArithOp, Box<Ex>, Box<Ex>),
    Pair(Box<Ex>, Box<Ex>),
    Lc(Box<Ex>, Box<Ex>, Box<Ex>),
    Method(Method, Box<Ex>),
    Modify(ModOp, Box<Ex>, Box<Ex>),
    PathMask(Box<[MaskEx]>),
    Call(u32, Box<[Ex]>),
}

/// An item of a path mask expression.
// An explicit tag: dispatch is a plain jump, not a niche decode.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(super) enum MaskEx {
    Item(MaskItem),
    Asn(Ex),
}

/// A statement.
// An explicit tag: dispatch is a plain jump, not a niche decode.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(super) enum Op {
    If(Cond, Box<[Op]>, Box<[Op]>),
    Accept,
    Reject,
    Return(Option<Ex>),
    SetAttr(Attr, Ex),
    /// `attr = e` for an int attribute and an int expression.
    SetInt(Attr, IntEx),
    Unset(Attr),
    /// `var = e`: the slot and its declared type (`None`: outside the frame, an error).
    SetVar(u16, Option<Type>, Ex),
    Print(Box<[Ex]>, bool),
    /// `f(args);`: a call whose value is dropped.
    Call(u32, Box<[Ex]>),
    /// `f();` of a function without parameters, variables, `return` or calls: its body, run
    /// in place (no frame; the call depth is checked as the call would).
    Leaf(Box<[Op]>),
    /// `f(c, ...);` with constant arguments, of a function without local variables or
    /// `return` that does not assign its parameters: its body compiled with the parameters
    /// replaced by the constants, run in place (no frame; the call depth counts as the
    /// call's).
    Inline(Box<[Op]>),
    Eval(Ex),
    Index(Box<Index>),
}

/// A run of prefix-guarded statements ([`super::PrefixIndex`]) with its lookup tables.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Index {
    pub ops: Box<[Op]>,
    pub v4: Box<[Level]>,
    pub v6: Box<[Level]>,
}

/// The guards of one length: (truncated address, statement), sorted, and a hash table of the
/// runs of equal addresses in them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Level {
    pub len: u8,
    /// [`mask`] of `len`.
    pub mask: u128,
    pub keys: Box<[(u128, u32)]>,
    /// Open addressing, a power of two at least twice the runs: (address, start, end) of a run
    /// of `keys`; `end == 0` is an empty slot.
    table: Box<[(u128, u32, u32)]>,
}

fn hash(k: u128) -> usize {
    let x = (k as u64) ^ ((k >> 64) as u64);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
}

impl Level {
    fn new(v6: bool, len: u8, mut keys: Vec<(u128, u32)>) -> Level {
        keys.sort_unstable();
        let mut runs: Vec<(u128, u32, u32)> = Vec::new();
        for (i, &(k, _)) in keys.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match runs.last_mut() {
                Some(r) if r.0 == k => r.2 = i.saturating_add(1),
                _ => runs.push((k, i, i.saturating_add(1))),
            }
        }
        let size = (runs.len() * 2).next_power_of_two().max(2);
        let mut table = vec![(0u128, 0u32, 0u32); size];
        for r in runs {
            let mut h = hash(r.0) & (size - 1);
            while let Some(slot) = table.get_mut(h) {
                if slot.2 == 0 {
                    *slot = r;
                    break;
                }
                h = (h + 1) & (size - 1);
            }
        }
        Level {
            len,
            mask: mask(v6, len),
            keys: keys.into_boxed_slice(),
            table: table.into_boxed_slice(),
        }
    }

    /// The guards whose truncated address is `k` (statements in order).
    #[inline]
    pub(super) fn find(&self, k: u128) -> &[(u128, u32)] {
        let mask = self.table.len().wrapping_sub(1);
        let mut h = hash(k) & mask;
        for _ in 0..self.table.len() {
            match self.table.get(h) {
                Some(&(key, start, end)) if end != 0 => {
                    if key == k {
                        let range = usize::try_from(start).unwrap_or(usize::MAX)
                            ..usize::try_from(end).unwrap_or(usize::MAX);
                        return self.keys.get(range).unwrap_or_default();
                    }
                }
                _ => return &[],
            }
            h = (h + 1) & mask;
        }
        &[]
    }
}

/// Guards by length, while an index is built.
type LevelKeys = Vec<(u8, Vec<(u128, u32)>)>;

/// A compiled function.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CFunc {
    /// Parameter types, then local types.
    pub vars: Box<[Type]>,
    pub params: usize,
    pub body: Box<[Op]>,
    /// The body laid out for the executor.
    pub flat: Box<[Insn]>,
}

/// A compiled filter: its frame, body, and the program's compiled functions.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Code {
    pub locals: Box<[Type]>,
    pub body: Box<[Op]>,
    /// The body laid out for the executor.
    pub flat: Box<[Insn]>,
    pub functions: Arc<[CFunc]>,
}

/// The compiled form held by a [`super::Filter`]; it is a function of the filter's body and
/// function table, so it takes no part in comparisons and is not printed.
#[derive(Clone)]
pub(super) struct Compiled(pub(super) Arc<Code>);

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

impl PartialEq for Compiled {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn types(vars: &[Var]) -> impl Iterator<Item = Type> + '_ {
    vars.iter().map(|v| v.ty)
}

/// Compiles a program's function table.
pub(super) fn functions(fs: &[Function]) -> Arc<[CFunc]> {
    let mut out: Vec<CFunc> = fs
        .iter()
        .map(|f| {
            let vars: Box<[Type]> = types(&f.params).chain(types(&f.locals)).collect();
            let body = Compiler {
                vars: &vars,
                consts: &[],
            }
            .stmts(&f.body);
            CFunc {
                params: f.params.len(),
                vars,
                body,
                flat: Box::new([]),
            }
        })
        .collect();
    let leaves = leaves(&out);
    for f in &mut out {
        inline(&mut f.body, &leaves);
        f.flat = lay_out(&f.body, false);
    }
    out.into()
}

/// The bodies of the functions a call can be replaced by ([`Op::Leaf`]), by function.
fn leaves(fs: &[CFunc]) -> Vec<Option<Box<[Op]>>> {
    fs.iter()
        .map(|f| (f.vars.is_empty() && is_leaf(&f.body)).then(|| f.body.clone()))
        .collect()
}

/// Replaces statement calls of leaf functions by their bodies.
fn inline(ops: &mut [Op], leaves: &[Option<Box<[Op]>>]) {
    for o in ops.iter_mut() {
        match o {
            Op::Call(id, args) if args.is_empty() => {
                let body = usize::try_from(*id).ok().and_then(|i| leaves.get(i));
                if let Some(Some(body)) = body {
                    *o = Op::Leaf(body.clone());
                }
            }
            Op::If(_, then, otherwise) => {
                inline(then, leaves);
                inline(otherwise, leaves);
            }
            Op::Index(ix) => inline(&mut ix.ops, leaves),
            _ => {}
        }
    }
}

/// Compiles a filter body over compiled functions.
pub(super) fn filter(
    locals: &[Var],
    body: &[Stmt],
    functions: Arc<[CFunc]>,
    source: &[Function],
) -> Compiled {
    let locals: Box<[Type]> = types(locals).collect();
    let mut body = Compiler {
        vars: &locals,
        consts: &[],
    }
    .stmts(body);
    let leaves = leaves(&functions);
    inline(&mut body, &leaves);
    specialise(&mut body, source, &leaves);
    let flat = lay_out(&body, true);
    Compiled(Arc::new(Code {
        locals,
        body,
        flat,
        functions,
    }))
}

/// Replaces statement calls with constant arguments by their function's body compiled for
/// those arguments ([`Op::Inline`]), where that is the same as the call: the function has no
/// local variables, the arguments fit the parameters' types, and the body neither returns nor
/// assigns a variable. One level: calls inside the inlined body stay calls.
fn specialise(ops: &mut [Op], fs: &[Function], leaves: &[Option<Box<[Op]>>]) {
    for o in ops.iter_mut() {
        match o {
            Op::Call(id, args) if !args.is_empty() => {
                if let Some(body) = specialised(*id, args, fs, leaves) {
                    *o = Op::Inline(body);
                }
            }
            Op::If(_, then, otherwise) => {
                specialise(then, fs, leaves);
                specialise(otherwise, fs, leaves);
            }
            Op::Index(ix) => specialise(&mut ix.ops, fs, leaves),
            _ => {}
        }
    }
}

fn specialised(
    id: u32,
    args: &[Ex],
    fs: &[Function],
    leaves: &[Option<Box<[Op]>>],
) -> Option<Box<[Op]>> {
    let f = fs.get(usize::try_from(id).ok()?)?;
    if !f.locals.is_empty() || f.params.len() != args.len() {
        return None;
    }
    let vars: Box<[Type]> = types(&f.params).collect();
    let mut consts = Vec::with_capacity(args.len());
    for (ty, a) in vars.iter().zip(args) {
        match a {
            Ex::Const(v) if fits(*ty, v) => consts.push(convert(*ty, v.clone())),
            _ => return None,
        }
    }
    let mut body = Compiler {
        vars: &vars,
        consts: &consts,
    }
    .stmts(&f.body);
    if !frameless(&body) {
        return None;
    }
    inline(&mut body, leaves);
    Some(body)
}

struct Compiler<'a> {
    vars: &'a [Type],
    /// Values of the first variables (a specialised function's parameters): reads of them
    /// compile as constants.
    consts: &'a [Value],
}

impl Compiler<'_> {
    fn stmts(&self, body: &[Stmt]) -> Box<[Op]> {
        let mut out = Vec::with_capacity(body.len());
        self.push_stmts(body, &mut out);
        out.into_boxed_slice()
    }

    fn push_stmts(&self, body: &[Stmt], out: &mut Vec<Op>) {
        for s in body {
            match self.stmt(s) {
                // A block, or an `if` whose condition is constant: its statements in place.
                Op::If(Cond::Const(c), then, otherwise) => {
                    out.extend(if c { then } else { otherwise }.into_vec())
                }
                op => out.push(op),
            }
        }
    }

    fn stmt(&self, s: &Stmt) -> Op {
        match s {
            Stmt::If {
                cond,
                then,
                otherwise,
            } => Op::If(
                self.cond(cond, "If requires boolean expression"),
                self.stmts(then),
                self.stmts(otherwise),
            ),
            Stmt::Block(b) => Op::If(Cond::Const(true), self.stmts(b), Box::new([])),
            Stmt::Accept => Op::Accept,
            Stmt::Reject => Op::Reject,
            Stmt::Return(e) => Op::Return(e.as_ref().map(|e| self.ex(e))),
            Stmt::SetAttr(a, e) => match self.int(e) {
                Some(x) if Scalars::holds(*a) && a.ty() == Type::Int => Op::SetInt(*a, x),
                _ => Op::SetAttr(*a, self.ex(e)),
            },
            Stmt::UnsetAttr(a) => Op::Unset(*a),
            Stmt::SetVar(s, e) => Op::SetVar(s.0, self.var_type(s.0), self.ex(e)),
            Stmt::Print { args, newline } => {
                Op::Print(args.iter().map(|a| self.ex(a)).collect(), *newline)
            }
            Stmt::Expr(Expr::Call(id, args)) => {
                Op::Call(id.0, args.iter().map(|a| self.ex(a)).collect())
            }
            Stmt::Expr(e) => Op::Eval(self.ex(e)),
            Stmt::Indexed(ix) => Op::Index(Box::new(self.index(&ix.stmts))),
        }
    }

    fn var_type(&self, slot: u16) -> Option<Type> {
        self.vars.get(usize::from(slot)).copied()
    }

    fn index(&self, stmts: &[Stmt]) -> Index {
        let ops: Box<[Op]> = stmts.iter().map(|s| self.stmt(s)).collect();
        let (mut v4, mut v6): (LevelKeys, LevelKeys) = (Vec::new(), Vec::new());
        for (i, s) in stmts.iter().enumerate() {
            let (Some(g), Ok(i)) = (stmt_guard(s), u32::try_from(i)) else {
                continue;
            };
            let k = NetKey::of(&g);
            let levels = if k.v6 { &mut v6 } else { &mut v4 };
            let entry = (k.trunc(k.len), i);
            match levels.iter_mut().find(|l| l.0 == k.len) {
                Some(l) => l.1.push(entry),
                None => levels.push((k.len, vec![entry])),
            }
        }
        let build = |mut levels: LevelKeys, v6: bool| -> Box<[Level]> {
            levels.sort_unstable_by_key(|l| l.0);
            levels
                .into_iter()
                .map(|(len, keys)| Level::new(v6, len, keys))
                .collect()
        };
        Index {
            ops,
            v4: build(v4, false),
            v6: build(v6, true),
        }
    }

    /// An expression of static type int, if `e` is one.
    fn int(&self, e: &Expr) -> Option<IntEx> {
        if let Some(c) = self.constant(e) {
            return self.int(&c);
        }
        Some(match e {
            Expr::Const(Value::Int(n)) => IntEx::Const(*n),
            Expr::Attr(a) if Scalars::holds(*a) && a.ty() == Type::Int => IntEx::Attr(*a),
            Expr::Var(s) if self.var_type(s.0) == Some(Type::Int) => IntEx::Var(s.0),
            Expr::Arith(op, x, y) => {
                IntEx::Arith(*op, Box::new(self.int(x)?), Box::new(self.int(y)?))
            }
            _ => return None,
        })
    }

    /// A read of a variable with a known value, as that value.
    fn constant(&self, e: &Expr) -> Option<Expr> {
        match e {
            Expr::Var(s) => self.consts.get(usize::from(s.0)).cloned().map(Expr::Const),
            _ => None,
        }
    }

    fn ex(&self, e: &Expr) -> Ex {
        if let Some(c) = self.constant(e) {
            return self.ex(&c);
        }
        let b = |e: &Expr| Box::new(self.ex(e));
        match e {
            Expr::Const(v) => Ex::Const(v.clone()),
            Expr::Attr(a) => Ex::Attr(*a),
            Expr::Var(s) => Ex::Var(s.0),
            Expr::Defined(..)
            | Expr::Not(..)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Cmp(..)
            | Expr::Match { .. } => match self.cond(e, "") {
                Cond::Const(b) => Ex::Const(Value::Bool(b)),
                c => Ex::Cond(Box::new(c)),
            },
            Expr::Arith(op, x, y) => match (self.int(x), self.int(y)) {
                (Some(x), Some(y)) => Ex::Int(IntEx::Arith(*op, Box::new(x), Box::new(y))),
                _ => Ex::Arith(*op, b(x), b(y)),
            },
            Expr::Pair(x, y) => Ex::Pair(b(x), b(y)),
            Expr::Lc(x, y, z) => Ex::Lc(b(x), b(y), b(z)),
            Expr::Method(m, x) => Ex::Method(*m, b(x)),
            Expr::Modify(op, l, a) => Ex::Modify(*op, b(l), b(a)),
            Expr::PathMask(items) => Ex::PathMask(
                items
                    .iter()
                    .map(|t| match t {
                        MaskTerm::Item(i) => MaskEx::Item(*i),
                        MaskTerm::Asn(x) => MaskEx::Asn(self.ex(x)),
                    })
                    .collect(),
            ),
            Expr::Call(id, args) => Ex::Call(id.0, args.iter().map(|a| self.ex(a)).collect()),
        }
    }

    /// A condition; `msg` is the error when `e` turns out not to be a bool.
    fn cond(&self, e: &Expr, msg: &'static str) -> Cond {
        if let Some(c) = self.constant(e) {
            return self.cond(&c, msg);
        }
        let bool_msg = "Can't do boolean operation on non-booleans";
        match e {
            Expr::Not(x) => match self.cond(x, "Not applied to non-boolean") {
                Cond::Const(b) => Cond::Const(!b),
                c => Cond::Not(Box::new(c)),
            },
            Expr::And(x, y) | Expr::Or(x, y) => {
                let or = matches!(e, Expr::Or(..));
                let (x, y) = (self.cond(x, bool_msg), self.cond(y, bool_msg));
                match x {
                    // `true && y`, `false || y`: y alone; `false && y`, `true || y`: x.
                    Cond::Const(b) if b != or => y,
                    Cond::Const(b) => Cond::Const(b),
                    x if or => Cond::Or(Box::new(x), Box::new(y)),
                    x => Cond::And(Box::new(x), Box::new(y)),
                }
            }
            Expr::Defined(x) => match &**x {
                Expr::Attr(a) if always_defined(*a) => Cond::Const(true),
                Expr::Attr(a) => Cond::Defined(*a),
                x => Cond::DefinedEx(self.ex(x)),
            },
            Expr::Cmp(op, x, y) => self.cmp(*op, x, y),
            Expr::Match {
                negated,
                left,
                right,
            } => self.matches(*negated, left, right),
            Expr::Const(Value::Bool(b)) => Cond::Const(*b),
            e => Cond::Value(self.ex(e), msg),
        }
    }

    fn cmp(&self, op: CmpOp, x: &Expr, y: &Expr) -> Cond {
        if let (Some(a), Some(b)) = (self.int(x), self.int(y)) {
            return Cond::IntCmp(op, a, b);
        }
        match (op, x, y) {
            (CmpOp::Eq | CmpOp::Ne, Expr::Attr(Attr::Net), Expr::Const(Value::Prefix(p)))
            | (CmpOp::Eq | CmpOp::Ne, Expr::Const(Value::Prefix(p)), Expr::Attr(Attr::Net)) => {
                Cond::NetEq {
                    equal: op == CmpOp::Eq,
                    key: NetKey::of(p),
                }
            }
            (CmpOp::Eq | CmpOp::Ne, Expr::Attr(Attr::Source), Expr::Const(Value::Enum(e))) => {
                Cond::SourceIs {
                    equal: op == CmpOp::Eq,
                    value: *e,
                }
            }
            (_, Expr::Attr(Attr::Source), Expr::Const(c)) => Cond::SourceCmp(op, c.clone()),
            (_, x, Expr::Const(c)) => Cond::CmpConst(op, self.ex(x), c.clone()),
            _ => Cond::Cmp(op, self.ex(x), self.ex(y)),
        }
    }

    fn matches(&self, negated: bool, left: &Expr, right: &Expr) -> Cond {
        match (left, right) {
            (Expr::Attr(Attr::Net), Expr::Const(Value::Prefix(p))) => {
                let k = NetKey::of(&p.trunc());
                Cond::NetIn {
                    negated,
                    v6: k.v6,
                    addr: k.addr,
                    len: k.len,
                    mask: mask(k.v6, k.len),
                }
            }
            (Expr::Attr(Attr::Ifname), Expr::Const(Value::String(pat))) => Cond::Ifname {
                negated,
                glob: Glob::new(pat),
            },
            (l, Expr::Attr(Attr::BgpCommunity)) => Cond::InCommunities {
                negated,
                item: self.ex(l),
            },
            (l, Expr::Attr(Attr::BgpLargeCommunity)) => Cond::InLargeCommunities {
                negated,
                item: self.ex(l),
            },
            (l, Expr::Const(c)) => Cond::MatchConst {
                negated,
                left: self.ex(l),
                right: c.clone(),
            },
            (l, r) => Cond::Match {
                negated,
                left: self.ex(l),
                right: self.ex(r),
            },
        }
    }
}
