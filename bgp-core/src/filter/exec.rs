//! Running a filter: the executor of the compiled form ([`super::code`]) with BIRD 1.6's
//! semantics. Writes of the scalar attributes go to a [`Scalars`] overlay, which an accepted
//! route's [`Outcome`] carries; the route's attributes are copied only for other writes.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use smallvec::SmallVec;

use super::code::{CFunc, Cond, Ex, IntEx, MaskEx, NetKey};
use super::flat::{FlatIndex, Insn};
use super::ir::{Attr, Filter};
use super::ops::{
    self, cmp, convert, fits, match_values, need_bool, need_int, order, RuntimeError,
};
use super::outcome::{Changes, Outcome, Verdict};
use super::prefix::Glob;
use super::route::{self, Scalars};
use super::value::{EnumValue, MaskItem, Value};
use crate::rib::attrs::{RouteAttrs, SourceKind};
use crate::wire::{Community, LargeCommunity};

/// Deepest function-call nesting; deeper calls are a run-time error (BIRD has no limit but a
/// finite stack).
pub const MAX_CALL_DEPTH: usize = 64;

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

/// How a statement list ended normally: on its end, or by `return` (the value is in
/// [`Exec::ret`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Return,
}

/// What unwinds the executor: a verdict (from any depth) or a run-time error (the error is in
/// [`Exec::error`]). One byte: every result the executor passes around fits a register.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Accept,
    Reject,
    Error,
}

type S<T> = Result<T, Stop>;

/// `e?` for a [`RuntimeError`] result inside the executor.
macro_rules! tri {
    ($x:ident, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err($x.fail(e)),
        }
    };
}

fn int_value(x: Option<u32>) -> Value {
    x.map_or(Value::Void, Value::Int)
}

struct Exec<'c, 'r> {
    functions: &'c [CFunc],
    ctx: &'r RouteCtx<'r>,
    net: NetKey,
    orig: &'r RouteAttrs,
    /// A copy of the attributes, made by the first write of a non-scalar attribute (boxed:
    /// moving the executor or its result then moves no attribute set).
    modified: Option<Box<RouteAttrs>>,
    scalars: Scalars,
    /// A scalar was written.
    dirty: bool,
    stack: SmallVec<[Value; 8]>,
    base: usize,
    depth: usize,
    /// The value of the last `return`.
    ret: Value,
    /// The error behind [`Stop::Error`].
    error: Option<RuntimeError>,
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
            depth: 0,
            ret: Value::Void,
            error: None,
            output: Vec::new(),
            line: String::new(),
        };
        x.frame(code.locals.len());
        let (verdict, error) = match x.run_code(&code.flat) {
            Err(Stop::Accept) => (Verdict::Accept, None),
            Err(Stop::Reject) => (Verdict::Reject, None),
            Ok(_) => (
                Verdict::Reject,
                Some(RuntimeError("Filter did not return accept nor reject")),
            ),
            Err(Stop::Error) => (Verdict::Reject, x.error.take()),
        };
        if !x.line.is_empty() {
            x.output.push(std::mem::take(&mut x.line));
        }
        let changes = match verdict {
            Verdict::Reject => None,
            Verdict::Accept if x.dirty => Some(Changes::new(x.modified, Some(x.scalars))),
            Verdict::Accept => x.modified.map(|m| Changes::new(Some(m), None)),
        };
        // The frame stack and `return` value are unused by most filters: when they hold
        // nothing, skip their drop code (forgetting an empty inline stack or a void value
        // releases nothing; callgrind: their drops were 30 instructions per route).
        if x.stack.is_empty() && !x.stack.spilled() {
            std::mem::forget(x.stack);
        }
        if matches!(x.ret, Value::Void) {
            std::mem::forget(x.ret);
        }
        Outcome {
            verdict,
            changes,
            error,
            output: x.output,
        }
    }
}

impl Exec<'_, '_> {
    #[cold]
    fn fail(&mut self, e: RuntimeError) -> Stop {
        self.error = Some(e);
        Stop::Error
    }

    #[cold]
    fn err<T>(&mut self, msg: &'static str) -> S<T> {
        Err(self.fail(RuntimeError(msg)))
    }

    /// Room for `n` more variables (void).
    #[inline]
    fn frame(&mut self, n: usize) {
        for _ in 0..n {
            self.stack.push(Value::Void);
        }
    }

    /// The attributes as modified so far, scalars aside.
    fn attrs(&self) -> &RouteAttrs {
        self.modified.as_deref().unwrap_or(self.orig)
    }

    fn attrs_mut(&mut self) -> &mut RouteAttrs {
        let orig = self.orig;
        self.modified.get_or_insert_with(|| Box::new(orig.clone()))
    }

    /// Runs a laid-out body ([`super::flat`]).
    fn run_code(&mut self, code: &[Insn]) -> S<Flow> {
        let mut pc = 0;
        while let Some(i) = code.get(pc) {
            pc += 1;
            match i {
                Insn::Branch { cond, when, to } => {
                    if self.operand(cond)? == *when {
                        pc = *to as usize;
                    }
                }
                Insn::IfnameBranch { glob, hit, to } => {
                    if self.ifname_is(glob) == *hit {
                        pc = *to as usize;
                    }
                }
                Insn::NetInBranch {
                    v6,
                    len,
                    addr,
                    mask,
                    hit,
                    to,
                } => {
                    if self.net_in(*v6, *len, *addr, *mask) == *hit {
                        pc = *to as usize;
                    }
                }
                Insn::NetEqBranch { key, hit, to } => {
                    if (self.net == *key) == *hit {
                        pc = *to as usize;
                    }
                }
                Insn::SourceBranch { value, hit, to } => {
                    if self.source_is(*value) == *hit {
                        pc = *to as usize;
                    }
                }
                Insn::DefinedBranch { attr, hit, to } => {
                    if self.defined(*attr) == *hit {
                        pc = *to as usize;
                    }
                }
                Insn::IntBranch { op, x, y, hit, to } => {
                    let (a, b) = (self.int(x)?, self.int(y)?);
                    if order(*op, a.cmp(&b)) == *hit {
                        pc = *to as usize;
                    }
                }
                Insn::SetTunnel(text, t) => {
                    // Writing the value it has changes nothing (see `set_attr`).
                    if !self.scalars.holds_tunnel(text) {
                        self.scalars.set_tunnel(t.clone());
                        self.dirty = true;
                    }
                }
                Insn::Jump(to) => pc = *to as usize,
                Insn::Accept => return Err(Stop::Accept),
                Insn::Reject => return Err(Stop::Reject),
                Insn::SetInt(a, x) => self.set_int(*a, x)?,
                Insn::Index(ix) => {
                    if self.index(ix)? == Flow::Return {
                        return Ok(Flow::Return);
                    }
                }
                i => {
                    if self.insn_cold(i)? == Flow::Return {
                        return Ok(Flow::Return);
                    }
                }
            }
        }
        Ok(Flow::Next)
    }

    fn set_int(&mut self, a: Attr, x: &IntEx) -> S<()> {
        match self.int(x)? {
            // Writing the value it has changes nothing (see `set_attr`).
            Some(v) if self.scalars.int(a, self.ctx.source) == Some(v) => {}
            Some(v) => {
                tri!(self, self.scalars.write_int(a, v));
                self.dirty = true;
            }
            None => self.set_attr(a, Value::Void)?,
        }
        Ok(())
    }

    /// The instructions the hot filters do not use, out of [`Exec::run_code`]'s way.
    #[inline(never)]
    fn insn_cold(&mut self, i: &Insn) -> S<Flow> {
        match i {
            Insn::Return(e) => {
                self.ret = match e {
                    Some(e) => self.eval(e)?,
                    None => Value::Void,
                };
                return Ok(Flow::Return);
            }
            Insn::SetAttr(a, e) => {
                let v = self.eval(e)?;
                self.set_attr(*a, v)?;
            }
            Insn::Unset(a) => {
                if Scalars::holds(*a) {
                    tri!(self, self.scalars.unset(*a));
                    self.dirty = true;
                } else {
                    tri!(self, route::unset(*a, self.attrs_mut()));
                }
            }
            Insn::SetVar(slot, ty, e) => {
                let v = self.eval(e)?;
                let Some(ty) = *ty else {
                    return self.err("variable outside the frame");
                };
                if !fits(ty, &v) {
                    return self.err("Assigning to variable of incompatible type");
                }
                match self.stack.get_mut(self.base + usize::from(*slot)) {
                    Some(place) => *place = convert(ty, v),
                    None => return self.err("variable outside the frame"),
                }
            }
            Insn::Print(args, newline) => {
                for a in args.iter() {
                    let v = self.eval(a)?;
                    ops::format(&v, &mut self.line);
                }
                if *newline {
                    self.output.push(std::mem::take(&mut self.line));
                }
            }
            Insn::Call(id, args) => self.call(*id, args)?,
            Insn::Eval(e) => {
                self.eval(e)?;
            }
            Insn::CheckDepth => {
                if self.depth >= MAX_CALL_DEPTH {
                    return self.err("function calls nested too deeply");
                }
            }
            Insn::Enter => self.depth += 1,
            Insn::Leave => self.depth -= 1,
            Insn::Branch { .. }
            | Insn::IfnameBranch { .. }
            | Insn::NetInBranch { .. }
            | Insn::NetEqBranch { .. }
            | Insn::SourceBranch { .. }
            | Insn::DefinedBranch { .. }
            | Insn::IntBranch { .. }
            | Insn::SetTunnel(..)
            | Insn::Jump(_)
            | Insn::Accept
            | Insn::Reject
            | Insn::SetInt(..)
            | Insn::Index(_) => return self.run_code(std::slice::from_ref(i)),
        }
        Ok(Flow::Next)
    }

    /// Runs the statements of an index whose guard contains the route's prefix, in order.
    #[inline(never)]
    fn index(&mut self, ix: &FlatIndex) -> S<Flow> {
        let (addr, len) = (self.net.addr, self.net.len);
        let levels = if self.net.v6 { &ix.v6 } else { &ix.v4 };
        let mut hits = levels
            .iter()
            .take_while(|l| l.len <= len)
            .map(|l| l.find(addr & l.mask))
            .filter(|r| !r.is_empty());
        let Some(first) = hits.next() else {
            return Ok(Flow::Next);
        };
        let Some(second) = hits.next() else {
            return self.listed(&ix.ops, first.iter().map(|e| e.1));
        };
        // Guards of several lengths containing the prefix: their statements merged, in order.
        let mut m: SmallVec<[u32; 16]> = first
            .iter()
            .chain(second)
            .chain(hits.flatten())
            .map(|e| e.1)
            .collect();
        m.sort_unstable();
        m.dedup();
        self.listed(&ix.ops, m.into_iter())
    }

    #[inline]
    fn listed(&mut self, ops: &[Box<[Insn]>], order: impl Iterator<Item = u32>) -> S<Flow> {
        for i in order {
            let Some(s) = usize::try_from(i).ok().and_then(|i| ops.get(i)) else {
                continue;
            };
            // A statement whose guard was its whole condition: its branch, often one verdict.
            let flow = match &**s {
                [Insn::Accept] => return Err(Stop::Accept),
                [Insn::Reject] => return Err(Stop::Reject),
                s => self.run_code(s)?,
            };
            if flow == Flow::Return {
                return Ok(Flow::Return);
            }
        }
        Ok(Flow::Next)
    }

    /// Calls a function; its value is left in `self.ret`.
    #[inline(never)]
    fn call(&mut self, id: u32, args: &[Ex]) -> S<()> {
        let functions = self.functions;
        let Some(f) = usize::try_from(id).ok().and_then(|i| functions.get(i)) else {
            return self.err("call of an unknown function");
        };
        if self.depth >= MAX_CALL_DEPTH {
            return self.err("function calls nested too deeply");
        }
        if f.params != args.len() {
            return self.err("wrong number of arguments");
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
                return self.err("Assigning to variable of incompatible type");
            }
            self.stack.push(convert(*ty, v));
        }
        self.frame(f.vars.len() - f.params);
        let saved = self.base;
        self.base = new_base;
        self.depth += 1;
        let r = self.run_code(&f.flat);
        self.depth -= 1;
        self.base = saved;
        if self.stack.len() > new_base {
            self.stack.truncate(new_base);
        }
        if r? == Flow::Next {
            self.ret = Value::Void;
        }
        Ok(())
    }

    fn var(&mut self, slot: u16) -> S<Value> {
        match self.stack.get(self.base + usize::from(slot)) {
            Some(v) => Ok(v.clone()),
            None => self.err("variable outside the frame"),
        }
    }

    /// An int expression: the leaves and arithmetic on leaves here, deeper ones in
    /// [`Exec::int_deep`].
    #[inline(always)]
    fn int(&mut self, e: &IntEx) -> S<Option<u32>> {
        Ok(match e {
            IntEx::Const(n) => Some(*n),
            IntEx::Attr(a) => self.scalars.int(*a, self.ctx.source),
            IntEx::Arith(op, x, y) => {
                let (Some(a), Some(b)) = (self.int_leaf(x), self.int_leaf(y)) else {
                    return self.int_deep(e);
                };
                Some(tri!(self, ops::int_arith(*op, a, b)))
            }
            e => self.int_deep(e)?,
        })
    }

    /// A constant or attribute's value (`Some(None)` for void), or `None` for the others.
    #[inline]
    fn int_leaf(&self, e: &IntEx) -> Option<Option<u32>> {
        match e {
            IntEx::Const(n) => Some(Some(*n)),
            IntEx::Attr(a) => Some(self.scalars.int(*a, self.ctx.source)),
            _ => None,
        }
    }

    #[inline(never)]
    fn int_deep(&mut self, e: &IntEx) -> S<Option<u32>> {
        Ok(match e {
            IntEx::Const(n) => Some(*n),
            IntEx::Attr(a) => self.scalars.int(*a, self.ctx.source),
            IntEx::Var(s) => match self.stack.get(self.base + usize::from(*s)) {
                Some(Value::Int(x)) => Some(*x),
                Some(Value::Void) => None,
                Some(_) => return self.err("Assigning to variable of incompatible type"),
                None => return self.err("variable outside the frame"),
            },
            IntEx::Arith(op, x, y) => {
                let a = self.int_deep(x)?;
                let b = self.int_deep(y)?;
                Some(tri!(self, ops::int_arith(*op, a, b)))
            }
        })
    }

    fn eval(&mut self, e: &Ex) -> S<Value> {
        Ok(match e {
            Ex::Const(v) => v.clone(),
            Ex::Attr(a) => self.attr(*a),
            Ex::Var(s) => self.var(*s)?,
            Ex::Int(x) => int_value(self.int(x)?),
            Ex::Cond(c) => Value::Bool(self.cond(c)?),
            Ex::Call(id, args) => {
                self.call(*id, args)?;
                std::mem::take(&mut self.ret)
            }
            e => self.eval_cold(e)?,
        })
    }

    /// The expressions the hot filters do not use.
    #[inline(never)]
    fn eval_cold(&mut self, e: &Ex) -> S<Value> {
        Ok(match e {
            Ex::Const(_) | Ex::Attr(_) | Ex::Var(_) | Ex::Int(_) | Ex::Cond(_) | Ex::Call(..) => {
                self.eval(e)?
            }
            Ex::Arith(op, x, y) => {
                let (a, b) = (self.eval(x)?, self.eval(y)?);
                tri!(self, ops::arith(*op, &a, &b))
            }
            Ex::Pair(x, y) => {
                let msg = "Can't operate with value of non-integer type in pair constructor";
                let a = tri!(self, need_int(&self.eval(x)?, msg));
                let b = tri!(self, need_int(&self.eval(y)?, msg));
                match (u16::try_from(a), u16::try_from(b)) {
                    (Ok(a), Ok(b)) => Value::pair(a, b),
                    _ => {
                        return self
                            .err("Can't operate with value out of bounds in pair constructor")
                    }
                }
            }
            Ex::Lc(x, y, z) => {
                let msg = "Can't operate with value of non-integer type in LC constructor";
                let a = tri!(self, need_int(&self.eval(x)?, msg));
                let b = tri!(self, need_int(&self.eval(y)?, msg));
                let c = tri!(self, need_int(&self.eval(z)?, msg));
                Value::Lc(LargeCommunity::new(a, b, c))
            }
            Ex::Method(m, x) => {
                let v = self.eval(x)?;
                tri!(self, ops::method(*m, &v))
            }
            Ex::Modify(op, l, a) => {
                let (l, a) = (self.eval(l)?, self.eval(a)?);
                tri!(self, ops::modify(*op, &l, &a))
            }
            Ex::PathMask(items) => {
                let mut out = Vec::with_capacity(items.len());
                for t in items.iter() {
                    out.push(match t {
                        MaskEx::Item(i) => *i,
                        MaskEx::Asn(x) => {
                            let v = self.eval(x)?;
                            MaskItem::Asn(tri!(
                                self,
                                need_int(&v, "AS path mask item is not an integer")
                            ))
                        }
                    });
                }
                Value::PathMask(Arc::from(out))
            }
        })
    }

    /// The conditions that need no evaluation of operands (and cannot fail), answered in
    /// place; `None` for the others.
    #[inline(always)]
    fn quick(&self, c: &Cond) -> Option<bool> {
        Some(match c {
            Cond::Const(b) => *b,
            Cond::Defined(a) => self.defined(*a),
            Cond::NetIn {
                negated,
                v6,
                addr,
                len,
                mask,
            } => self.net_in(*v6, *len, *addr, *mask) != *negated,
            Cond::NetEq { equal, key } => (self.net == *key) == *equal,
            Cond::SourceIs { equal, value } => self.source_is(*value) == *equal,
            Cond::Ifname { negated, glob } => self.ifname_is(glob) != *negated,
            _ => return None,
        })
    }

    /// `net ~ P` for P's family, length, truncated address and mask.
    #[inline(always)]
    fn net_in(&self, v6: bool, len: u8, addr: u128, mask: u128) -> bool {
        let n = &self.net;
        n.v6 == v6 && n.len >= len && n.addr & mask == addr
    }

    /// `source = value`.
    #[inline(always)]
    fn source_is(&self, value: EnumValue) -> bool {
        route::source_enum(self.ctx.source) == value
    }

    /// `ifname ~ PATTERN`.
    #[inline(always)]
    fn ifname_is(&self, glob: &Glob) -> bool {
        glob.matches(self.attrs().meta.ifname.as_deref().unwrap_or(""))
    }

    /// A condition operand: [`Exec::quick`] or the call.
    #[inline(always)]
    fn operand(&mut self, c: &Cond) -> S<bool> {
        match self.quick(c) {
            Some(b) => Ok(b),
            None => self.cond(c),
        }
    }

    fn cond(&mut self, c: &Cond) -> S<bool> {
        if let Some(b) = self.quick(c) {
            return Ok(b);
        }
        Ok(match c {
            Cond::Not(x) => !self.operand(x)?,
            Cond::And(x, y) => self.operand(x)? && self.operand(y)?,
            Cond::Or(x, y) => self.operand(x)? || self.operand(y)?,
            Cond::DefinedEx(x) => self.eval(x)? != Value::Void,
            Cond::IntCmp(op, x, y) => {
                let (a, b) = (self.int(x)?, self.int(y)?);
                order(*op, a.cmp(&b))
            }
            Cond::Value(Ex::Var(slot), msg) => {
                match self.stack.get(self.base + usize::from(*slot)) {
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return self.err(msg),
                    None => return self.err("variable outside the frame"),
                }
            }
            c => self.cond_cold(c)?,
        })
    }

    /// The conditions the hot filters do not use.
    #[inline(never)]
    fn cond_cold(&mut self, c: &Cond) -> S<bool> {
        Ok(match c {
            Cond::SourceCmp(op, b) => {
                let a = Value::Enum(route::source_enum(self.ctx.source));
                tri!(self, cmp(*op, &a, b))
            }
            Cond::CmpConst(op, x, b) => {
                let a = self.eval(x)?;
                tri!(self, cmp(*op, &a, b))
            }
            Cond::Cmp(op, x, y) => {
                let (a, b) = (self.eval(x)?, self.eval(y)?);
                tri!(self, cmp(*op, &a, &b))
            }
            Cond::Const(_)
            | Cond::Not(_)
            | Cond::And(..)
            | Cond::Or(..)
            | Cond::Defined(_)
            | Cond::DefinedEx(_)
            | Cond::NetIn { .. }
            | Cond::NetEq { .. }
            | Cond::IntCmp(..)
            | Cond::SourceIs { .. }
            | Cond::Ifname { .. } => self.cond(c)?,
            Cond::InCommunities { negated, item } => {
                let hit = match self.eval(item)? {
                    Value::Pair(x) | Value::Quad(x) => {
                        self.attrs().attrs.communities.contains(&Community(x))
                    }
                    v => tri!(self, match_values(&v, &self.attr(Attr::BgpCommunity))),
                };
                hit != *negated
            }
            Cond::InLargeCommunities { negated, item } => {
                let hit = match self.eval(item)? {
                    Value::Lc(x) => self.attrs().attrs.large_communities.contains(&x),
                    v => tri!(self, match_values(&v, &self.attr(Attr::BgpLargeCommunity))),
                };
                hit != *negated
            }
            Cond::MatchConst {
                negated,
                left,
                right,
            } => {
                let a = self.eval(left)?;
                tri!(self, match_values(&a, right)) != *negated
            }
            Cond::Match {
                negated,
                left,
                right,
            } => {
                let (a, b) = (self.eval(left)?, self.eval(right)?);
                tri!(self, match_values(&a, &b)) != *negated
            }
            Cond::Value(x, msg) => {
                let v = self.eval(x)?;
                tri!(self, need_bool(&v, msg))
            }
        })
    }

    fn attr(&self, a: Attr) -> Value {
        if Scalars::holds(a) {
            self.scalars.read(a, self.ctx)
        } else {
            route::read(a, self.ctx, self.attrs())
        }
    }

    #[inline]
    fn defined(&self, a: Attr) -> bool {
        if Scalars::holds(a) {
            self.scalars.defined(a)
        } else {
            route::defined(a, self.ctx, self.attrs())
        }
    }

    #[inline(never)]
    fn set_attr(&mut self, a: Attr, v: Value) -> S<()> {
        if Scalars::holds(a) {
            // Writing the value it already has changes nothing (Calico's kernel filter
            // rewrites krt_metric/krt_tunnel on every route): the input stays shared.
            if !self.scalars.holds_value(a, &v, self.ctx.source) {
                tri!(self, self.scalars.write(a, v));
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
        tri!(self, route::write(a, self.attrs_mut(), v, family_v4));
        Ok(())
    }
}
