//! Running a filter: the executor of the compiled form ([`super::code`]) with BIRD 1.6's
//! semantics. Writes of the scalar attributes go to a [`Scalars`] overlay; the route's
//! attributes are copied only for other writes, or once at the end when an accepted route
//! changed.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use smallvec::SmallVec;

use super::code::{CFunc, Cond, Ex, Index, IntEx, MaskEx, NetKey, Op};
use super::ir::{Attr, CmpOp, Filter};
use super::ops::{self, RuntimeError};
use super::route::{self, Scalars};
use super::value::{MaskItem, Type, Value};
use crate::rib::attrs::{RouteAttrs, SourceKind};
use crate::wire::{Community, LargeCommunity};

/// Deepest function-call nesting; deeper calls are a run-time error (BIRD has no limit but a
/// finite stack).
pub const MAX_CALL_DEPTH: usize = 64;

/// A filter's final word on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Verdict {
    /// Keep the route (with the modifications made).
    Accept,
    /// Drop the route.
    Reject,
}

/// What a filter sees of a route besides its attribute set.
#[derive(Debug, Clone, Copy)]
pub struct RouteCtx<'a> {
    /// The prefix (`net`).
    pub prefix: &'a IpNet,
    /// Where it came from (`source`).
    pub source: SourceKind,
    /// The neighbour it came from (`from`), if any.
    pub from: Option<IpAddr>,
    /// The protocol's name (`proto`).
    pub proto: &'a str,
    /// The route is on its way to a BGP neighbor with the attributes the BGP protocol gave it
    /// for that neighbor (BIRD 1.6 runs the export filter after `bgp_create_attrs` /
    /// `bgp_update_attrs`: our AS prepended towards eBGP, next hop self): `bgp_next_hop` is the
    /// outgoing next hop whatever the route's source.
    pub bgp_export: bool,
}

/// The result of running a filter on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Accepted or rejected.
    pub verdict: Verdict,
    /// The modified attributes, when the filter assigned something.
    pub modified: Option<RouteAttrs>,
    /// The run-time error that rejected the route, if one did (to be logged and counted);
    /// also set when the filter ended without `accept` or `reject`, which BIRD 1.6 reports
    /// ("did not return accept nor reject") and treats as a reject.
    pub error: Option<RuntimeError>,
    /// Lines written by `print`/`printn` (BIRD logs them at level info).
    pub output: Vec<String>,
}

/// How a statement list ended normally.
pub(super) enum Flow {
    Next,
    Return(Value),
}

/// What unwinds the executor: a verdict (from any depth) or a run-time error.
pub(super) enum Stop {
    Verdict(Verdict),
    Error(RuntimeError),
}

impl From<RuntimeError> for Stop {
    fn from(e: RuntimeError) -> Self {
        Stop::Error(e)
    }
}

pub(super) type S<T> = Result<T, Stop>;

pub(super) fn err<T>(msg: &'static str) -> S<T> {
    Err(Stop::Error(RuntimeError(msg)))
}

pub(super) fn need_bool(v: &Value, msg: &'static str) -> S<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => err(msg),
    }
}

pub(super) fn need_int(v: &Value, msg: &'static str) -> S<u32> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => err(msg),
    }
}

/// Whether a value may be stored in a variable of type `ty` (void always may, as in BIRD;
/// an IPv4 address may go into a quad).
pub(super) fn fits(ty: Type, v: &Value) -> bool {
    let vt = v.ty();
    vt == ty
        || vt == Type::Void
        || matches!((ty, v), (Type::Quad, Value::Ip(IpAddr::V4(_))))
        || matches!((ty, vt), (Type::Set(_), Type::Set(_)))
}

/// Converts for storage (an IPv4 address stored in a quad becomes the quad).
pub(super) fn convert(ty: Type, v: Value) -> Value {
    match (ty, v) {
        (Type::Quad, Value::Ip(IpAddr::V4(a))) => Value::Quad(u32::from(a)),
        (_, v) => v,
    }
}

/// A comparison with BIRD's rules: `=`/`!=` never fail, the orderings fail on incompatible
/// types.
pub(super) fn cmp(op: CmpOp, a: &Value, b: &Value) -> S<bool> {
    if let CmpOp::Eq | CmpOp::Ne = op {
        return Ok(ops::same(a, b) == (op == CmpOp::Eq));
    }
    let Some(o) = ops::compare(a, b) else {
        return err("Can't compare values of incompatible types");
    };
    Ok(order(op, o))
}

fn order(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Gt => o == Greater,
        CmpOp::Le => o != Greater,
        CmpOp::Ge => o != Less,
    }
}

pub(super) fn match_values(a: &Value, b: &Value) -> S<bool> {
    ops::in_range(a, b).ok_or(Stop::Error(RuntimeError("~ applied on unknown type pair")))
}

fn int_value(x: Option<u32>) -> Value {
    x.map_or(Value::Void, Value::Int)
}

struct Exec<'c, 'r> {
    functions: &'c [CFunc],
    ctx: &'r RouteCtx<'r>,
    net: NetKey,
    orig: &'r RouteAttrs,
    /// A copy of the attributes, made by the first write of a non-scalar attribute.
    modified: Option<RouteAttrs>,
    scalars: Scalars,
    /// A scalar was written.
    dirty: bool,
    stack: SmallVec<[Value; 8]>,
    base: usize,
    /// The running body's variable types (parameters, then locals).
    vars: &'c [Type],
    depth: usize,
    output: Vec<String>,
    line: String,
}

impl Filter {
    /// Runs the filter on a route (BIRD's `f_run`). Never panics: a run-time error rejects
    /// the route and is returned in [`Outcome::error`].
    pub fn run(&self, ctx: &RouteCtx<'_>, attrs: &RouteAttrs) -> Outcome {
        let code = &*self.code.0;
        let mut x = Exec {
            functions: &code.functions,
            ctx,
            net: NetKey::of(ctx.prefix),
            orig: attrs,
            modified: None,
            scalars: Scalars::load(attrs),
            dirty: false,
            stack: SmallVec::new(),
            base: 0,
            vars: &code.locals,
            depth: 0,
            output: Vec::new(),
            line: String::new(),
        };
        x.stack.resize(code.locals.len(), Value::Void);
        let (verdict, error) = match x.ops(&code.body) {
            Err(Stop::Verdict(v)) => (v, None),
            Ok(_) => (
                Verdict::Reject,
                Some(RuntimeError("Filter did not return accept nor reject")),
            ),
            Err(Stop::Error(e)) => (Verdict::Reject, Some(e)),
        };
        if !x.line.is_empty() {
            x.output.push(std::mem::take(&mut x.line));
        }
        let modified = match verdict {
            Verdict::Reject => None,
            Verdict::Accept if x.dirty => {
                let mut m = x.modified.take().unwrap_or_else(|| attrs.clone());
                x.scalars.store(&mut m);
                Some(m)
            }
            Verdict::Accept => x.modified,
        };
        Outcome {
            verdict,
            modified,
            error,
            output: x.output,
        }
    }
}

impl Exec<'_, '_> {
    /// The attributes as modified so far, scalars aside.
    fn attrs(&self) -> &RouteAttrs {
        self.modified.as_ref().unwrap_or(self.orig)
    }

    fn attrs_mut(&mut self) -> &mut RouteAttrs {
        let orig = self.orig;
        self.modified.get_or_insert_with(|| orig.clone())
    }

    fn ops(&mut self, body: &[Op]) -> S<Flow> {
        for s in body {
            if let Flow::Return(v) = self.op(s)? {
                return Ok(Flow::Return(v));
            }
        }
        Ok(Flow::Next)
    }

    fn op(&mut self, s: &Op) -> S<Flow> {
        match s {
            Op::If(c, then, otherwise) => {
                if self.cond(c)? {
                    self.ops(then)
                } else {
                    self.ops(otherwise)
                }
            }
            Op::Accept => Err(Stop::Verdict(Verdict::Accept)),
            Op::Reject => Err(Stop::Verdict(Verdict::Reject)),
            Op::Return(e) => Ok(Flow::Return(match e {
                Some(e) => self.eval(e)?,
                None => Value::Void,
            })),
            Op::SetAttr(a, e) => {
                let v = self.eval(e)?;
                self.set_attr(*a, v)?;
                Ok(Flow::Next)
            }
            Op::Unset(a) => {
                if Scalars::holds(*a) {
                    self.scalars.unset(*a)?;
                    self.dirty = true;
                } else {
                    route::unset(*a, self.attrs_mut())?;
                }
                Ok(Flow::Next)
            }
            Op::SetVar(slot, ty, e) => {
                let v = self.eval(e)?;
                let Some(ty) = *ty else {
                    return err("variable outside the frame");
                };
                if !fits(ty, &v) {
                    return err("Assigning to variable of incompatible type");
                }
                match self.stack.get_mut(self.base + usize::from(*slot)) {
                    Some(place) => *place = convert(ty, v),
                    None => return err("variable outside the frame"),
                }
                Ok(Flow::Next)
            }
            Op::Print(args, newline) => {
                for a in args.iter() {
                    let v = self.eval(a)?;
                    ops::format(&v, &mut self.line);
                }
                if *newline {
                    self.output.push(std::mem::take(&mut self.line));
                }
                Ok(Flow::Next)
            }
            Op::Eval(e) => self.eval(e).map(|_| Flow::Next),
            Op::Index(ix) => self.index(ix),
        }
    }

    /// Runs the statements of an index whose guard contains the route's prefix, in order.
    fn index(&mut self, ix: &Index) -> S<Flow> {
        let levels = if self.net.v6 { &ix.v6 } else { &ix.v4 };
        let mut runs: SmallVec<[&[(u128, u32)]; 4]> = SmallVec::new();
        for l in levels.iter().take_while(|l| l.len <= self.net.len) {
            let k = self.net.trunc(l.len);
            let start = l.keys.partition_point(|e| e.0 < k);
            let rest = l.keys.get(start..).unwrap_or_default();
            let n = rest.iter().take_while(|e| e.0 == k).count();
            if let Some(run) = rest.get(..n).filter(|r| !r.is_empty()) {
                runs.push(run);
            }
        }
        match runs.as_slice() {
            [] => Ok(Flow::Next),
            [one] => self.listed(&ix.ops, one.iter().map(|e| e.1)),
            many => {
                let mut m: SmallVec<[u32; 16]> =
                    many.iter().flat_map(|r| r.iter().map(|e| e.1)).collect();
                m.sort_unstable();
                m.dedup();
                self.listed(&ix.ops, m.into_iter())
            }
        }
    }

    fn listed(&mut self, ops: &[Op], order: impl Iterator<Item = u32>) -> S<Flow> {
        for i in order {
            let Some(s) = usize::try_from(i).ok().and_then(|i| ops.get(i)) else {
                continue;
            };
            if let Flow::Return(v) = self.op(s)? {
                return Ok(Flow::Return(v));
            }
        }
        Ok(Flow::Next)
    }

    fn call(&mut self, id: u32, args: &[Ex]) -> S<Value> {
        let functions = self.functions;
        let Some(f) = usize::try_from(id).ok().and_then(|i| functions.get(i)) else {
            return err("call of an unknown function");
        };
        if self.depth >= MAX_CALL_DEPTH {
            return err("function calls nested too deeply");
        }
        if f.params != args.len() {
            return err("wrong number of arguments");
        }
        let new_base = self.stack.len();
        for (ty, a) in f.vars.iter().zip(args.iter()) {
            let v = match self.eval(a) {
                Ok(v) => v,
                Err(e) => {
                    self.stack.truncate(new_base);
                    return Err(e);
                }
            };
            if !fits(*ty, &v) {
                self.stack.truncate(new_base);
                return err("Assigning to variable of incompatible type");
            }
            self.stack.push(convert(*ty, v));
        }
        self.stack.resize(new_base + f.vars.len(), Value::Void);
        let saved = (self.base, self.vars);
        self.base = new_base;
        self.vars = &f.vars;
        self.depth += 1;
        let r = self.ops(&f.body);
        self.depth -= 1;
        (self.base, self.vars) = saved;
        self.stack.truncate(new_base);
        match r? {
            Flow::Return(v) => Ok(v),
            Flow::Next => Ok(Value::Void),
        }
    }

    fn var(&self, slot: u16) -> S<&Value> {
        match self.stack.get(self.base + usize::from(slot)) {
            Some(v) => Ok(v),
            None => err("variable outside the frame"),
        }
    }

    fn int(&self, e: &IntEx) -> S<Option<u32>> {
        Ok(match e {
            IntEx::Const(n) => Some(*n),
            IntEx::Attr(a) => self.scalars.int(*a, self.ctx.source),
            IntEx::Var(s) => match self.var(*s)? {
                Value::Int(x) => Some(*x),
                Value::Void => None,
                _ => return err("Assigning to variable of incompatible type"),
            },
            IntEx::Arith(op, x, y) => {
                let (a, b) = (self.int(x)?, self.int(y)?);
                match ops::arith(*op, &int_value(a), &int_value(b))? {
                    Value::Int(r) => Some(r),
                    _ => return err("Can't operate with values of incompatible types"),
                }
            }
        })
    }

    fn eval(&mut self, e: &Ex) -> S<Value> {
        Ok(match e {
            Ex::Const(v) => v.clone(),
            Ex::Attr(a) => self.attr(*a),
            Ex::Var(s) => self.var(*s)?.clone(),
            Ex::Int(x) => int_value(self.int(x)?),
            Ex::Cond(c) => Value::Bool(self.cond(c)?),
            Ex::Arith(op, x, y) => {
                let (a, b) = (self.eval(x)?, self.eval(y)?);
                ops::arith(*op, &a, &b)?
            }
            Ex::Pair(x, y) => {
                let msg = "Can't operate with value of non-integer type in pair constructor";
                let a = need_int(&self.eval(x)?, msg)?;
                let b = need_int(&self.eval(y)?, msg)?;
                match (u16::try_from(a), u16::try_from(b)) {
                    (Ok(a), Ok(b)) => Value::pair(a, b),
                    _ => return err("Can't operate with value out of bounds in pair constructor"),
                }
            }
            Ex::Lc(x, y, z) => {
                let msg = "Can't operate with value of non-integer type in LC constructor";
                let a = need_int(&self.eval(x)?, msg)?;
                let b = need_int(&self.eval(y)?, msg)?;
                let c = need_int(&self.eval(z)?, msg)?;
                Value::Lc(LargeCommunity::new(a, b, c))
            }
            Ex::Method(m, x) => ops::method(*m, &self.eval(x)?)?,
            Ex::Modify(op, l, a) => {
                let (l, a) = (self.eval(l)?, self.eval(a)?);
                ops::modify(*op, &l, &a)?
            }
            Ex::PathMask(items) => {
                let mut out = Vec::with_capacity(items.len());
                for t in items.iter() {
                    out.push(match t {
                        MaskEx::Item(i) => *i,
                        MaskEx::Asn(x) => MaskItem::Asn(need_int(
                            &self.eval(x)?,
                            "AS path mask item is not an integer",
                        )?),
                    });
                }
                Value::PathMask(Arc::from(out))
            }
            Ex::Call(id, args) => self.call(*id, args)?,
        })
    }

    fn cond(&mut self, c: &Cond) -> S<bool> {
        Ok(match c {
            Cond::Const(b) => *b,
            Cond::Not(x) => !self.cond(x)?,
            Cond::And(x, y) => self.cond(x)? && self.cond(y)?,
            Cond::Or(x, y) => self.cond(x)? || self.cond(y)?,
            Cond::Defined(a) => self.defined(*a),
            Cond::DefinedEx(x) => self.eval(x)? != Value::Void,
            Cond::NetIn {
                negated,
                v6,
                addr,
                len,
            } => {
                let n = &self.net;
                (n.v6 == *v6 && n.len >= *len && n.trunc(*len) == *addr) != *negated
            }
            Cond::NetEq { equal, key } => (self.net == *key) == *equal,
            Cond::IntCmp(op, x, y) => {
                let (a, b) = (self.int(x)?, self.int(y)?);
                order(*op, a.cmp(&b))
            }
            Cond::CmpConst(op, x, b) => cmp(*op, &self.eval(x)?, b)?,
            Cond::Cmp(op, x, y) => {
                let (a, b) = (self.eval(x)?, self.eval(y)?);
                cmp(*op, &a, &b)?
            }
            Cond::Ifname { negated, glob } => {
                glob.matches(self.attrs().meta.ifname.as_deref().unwrap_or("")) != *negated
            }
            Cond::InCommunities { negated, item } => {
                let hit = match self.eval(item)? {
                    Value::Pair(x) | Value::Quad(x) => {
                        self.attrs().attrs.communities.contains(&Community(x))
                    }
                    v => match_values(&v, &self.attr(Attr::BgpCommunity))?,
                };
                hit != *negated
            }
            Cond::InLargeCommunities { negated, item } => {
                let hit = match self.eval(item)? {
                    Value::Lc(x) => self.attrs().attrs.large_communities.contains(&x),
                    v => match_values(&v, &self.attr(Attr::BgpLargeCommunity))?,
                };
                hit != *negated
            }
            Cond::MatchConst {
                negated,
                left,
                right,
            } => match_values(&self.eval(left)?, right)? != *negated,
            Cond::Match {
                negated,
                left,
                right,
            } => {
                let (a, b) = (self.eval(left)?, self.eval(right)?);
                match_values(&a, &b)? != *negated
            }
            Cond::Value(x, msg) => need_bool(&self.eval(x)?, msg)?,
        })
    }

    fn attr(&self, a: Attr) -> Value {
        if Scalars::holds(a) {
            self.scalars.read(a, self.ctx)
        } else {
            route::read(a, self.ctx, self.attrs())
        }
    }

    fn defined(&self, a: Attr) -> bool {
        if Scalars::holds(a) {
            self.scalars.defined(a)
        } else {
            route::defined(a, self.ctx, self.attrs())
        }
    }

    fn set_attr(&mut self, a: Attr, v: Value) -> S<()> {
        if Scalars::holds(a) {
            // Writing the value it already has changes nothing (Calico's kernel filter
            // rewrites krt_metric/krt_tunnel on every route): the input stays shared.
            if !self.scalars.holds_value(a, &v, self.ctx.source) {
                self.scalars.write(a, v)?;
                self.dirty = true;
            }
            return Ok(());
        }
        let list = matches!(
            a,
            Attr::BgpCommunity | Attr::BgpLargeCommunity | Attr::BgpPath
        );
        if !list && v != Value::Void && route::read(a, self.ctx, self.attrs()) == v {
            return Ok(());
        }
        let family_v4 = !self.net.v6;
        route::write(a, self.attrs_mut(), v, family_v4).map_err(Stop::Error)
    }
}
