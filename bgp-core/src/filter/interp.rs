//! The tree interpreter: runs a [`Filter`]'s program tree on one route with BIRD 1.6's
//! semantics. Kept for tests only, as the reference [`super::exec`]'s compiled form must agree
//! with (`tests_compiled.rs`).

use std::sync::Arc;

use smallvec::SmallVec;

use super::exec::{RouteCtx, MAX_CALL_DEPTH};
use super::ir::{Attr, Expr, Filter, Function, MaskTerm, Slot, Stmt, Var};
use super::ops::{self, RuntimeError};
use super::ops::{cmp, convert, fits, match_values, need_bool, need_int};
use super::outcome::{Changes, Outcome, Verdict};
use super::route;
use super::value::{Type, Value};
use crate::rib::attrs::RouteAttrs;

/// How a statement list ended normally.
enum Flow {
    Next,
    Return(Value),
}

/// What unwinds the interpreter: a verdict (from any depth) or a run-time error.
enum Stop {
    Verdict(Verdict),
    Error(RuntimeError),
}

impl From<RuntimeError> for Stop {
    fn from(e: RuntimeError) -> Self {
        Stop::Error(e)
    }
}

type S<T> = Result<T, Stop>;

fn err<T>(msg: &'static str) -> S<T> {
    Err(Stop::Error(RuntimeError(msg)))
}

/// The variables of the running body: parameters, then locals.
#[derive(Clone, Copy)]
struct FrameVars<'f> {
    params: &'f [Var],
    locals: &'f [Var],
}

impl FrameVars<'_> {
    fn ty(&self, s: Slot) -> Option<Type> {
        let i = usize::from(s.0);
        match self.params.get(i) {
            Some(v) => Some(v.ty),
            None => self.locals.get(i - self.params.len()).map(|v| v.ty),
        }
    }
    fn len(&self) -> usize {
        self.params.len() + self.locals.len()
    }
}

struct Interp<'f, 'r> {
    functions: &'f [Function],
    ctx: &'r RouteCtx<'r>,
    orig: &'r RouteAttrs,
    modified: Option<RouteAttrs>,
    stack: SmallVec<[Value; 16]>,
    base: usize,
    vars: FrameVars<'f>,
    depth: usize,
    output: Vec<String>,
    line: String,
}

impl Filter {
    /// Runs the filter on a route with the tree interpreter: the reference the compiled
    /// form is tested against.
    pub(crate) fn run_reference(&self, ctx: &RouteCtx<'_>, attrs: &RouteAttrs) -> Outcome {
        let vars = FrameVars {
            params: &[],
            locals: &self.locals,
        };
        let mut it = Interp {
            functions: &self.functions,
            ctx,
            orig: attrs,
            modified: None,
            stack: SmallVec::new(),
            base: 0,
            vars,
            depth: 0,
            output: Vec::new(),
            line: String::new(),
        };
        push_voids(&mut it.stack, vars.len());
        let (verdict, error) = match it.stmts(&self.body) {
            Err(Stop::Verdict(v)) => (v, None),
            Ok(_) => (
                Verdict::Reject,
                Some(RuntimeError("Filter did not return accept nor reject")),
            ),
            Err(Stop::Error(e)) => (Verdict::Reject, Some(e)),
        };
        if !it.line.is_empty() {
            it.output.push(std::mem::take(&mut it.line));
        }
        Outcome {
            verdict,
            changes: match verdict {
                Verdict::Accept => it.modified.map(|m| Changes::new(Some(Box::new(m)), None)),
                Verdict::Reject => None,
            },
            error,
            output: it.output,
        }
    }
}

/// Room for `n` variables (void). Most frames have none: no iterator machinery then.
fn push_voids(stack: &mut SmallVec<[Value; 16]>, n: usize) {
    for _ in 0..n {
        stack.push(Value::Void);
    }
}

impl Interp<'_, '_> {
    fn attrs(&self) -> &RouteAttrs {
        self.modified.as_ref().unwrap_or(self.orig)
    }

    fn attrs_mut(&mut self) -> &mut RouteAttrs {
        let orig = self.orig;
        self.modified.get_or_insert_with(|| orig.clone())
    }

    fn stmts(&mut self, body: &[Stmt]) -> S<Flow> {
        for s in body {
            if let Flow::Return(v) = self.stmt(s)? {
                return Ok(Flow::Return(v));
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, s: &Stmt) -> S<Flow> {
        match s {
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.cond(cond, "If requires boolean expression")?;
                self.stmts(if c { then } else { otherwise })
            }
            Stmt::Block(b) => self.stmts(b),
            Stmt::Accept => Err(Stop::Verdict(Verdict::Accept)),
            Stmt::Reject => Err(Stop::Verdict(Verdict::Reject)),
            Stmt::Return(e) => Ok(Flow::Return(match e {
                Some(e) => self.eval(e)?,
                None => Value::Void,
            })),
            Stmt::SetAttr(a, e) => {
                let v = self.eval(e)?;
                self.set_attr(*a, v)?;
                Ok(Flow::Next)
            }
            Stmt::UnsetAttr(a) => {
                self.unset_attr(*a)?;
                Ok(Flow::Next)
            }
            Stmt::SetVar(s, e) => {
                let v = self.eval(e)?;
                self.set_var(*s, v)?;
                Ok(Flow::Next)
            }
            Stmt::Print { args, newline } => {
                for a in args {
                    let v = self.eval(a)?;
                    ops::format(&v, &mut self.line);
                }
                if *newline {
                    self.output.push(std::mem::take(&mut self.line));
                }
                Ok(Flow::Next)
            }
            Stmt::Expr(e) => self.eval(e).map(|_| Flow::Next),
            Stmt::Indexed(ix) => {
                for s in ix.candidates(self.ctx.prefix) {
                    if let Flow::Return(v) = self.stmt(s)? {
                        return Ok(Flow::Return(v));
                    }
                }
                Ok(Flow::Next)
            }
        }
    }

    fn set_var(&mut self, s: Slot, v: Value) -> S<()> {
        let Some(ty) = self.vars.ty(s) else {
            return err("variable outside the frame");
        };
        if !fits(ty, &v) {
            return err("Assigning to variable of incompatible type");
        }
        match self.stack.get_mut(self.base + usize::from(s.0)) {
            Some(slot) => {
                *slot = convert(ty, v);
                Ok(())
            }
            None => err("variable outside the frame"),
        }
    }

    fn call(&mut self, id: u32, args: &[Expr]) -> S<Value> {
        let functions = self.functions;
        let Some(f) = usize::try_from(id).ok().and_then(|i| functions.get(i)) else {
            return err("call of an unknown function");
        };
        if self.depth >= MAX_CALL_DEPTH {
            return err("function calls nested too deeply");
        }
        if f.params.len() != args.len() {
            return err("wrong number of arguments");
        }
        let new_base = self.stack.len();
        for (p, a) in f.params.iter().zip(args) {
            let v = match self.eval(a) {
                Ok(v) => v,
                Err(e) => {
                    self.stack.truncate(new_base);
                    return Err(e);
                }
            };
            if !fits(p.ty, &v) {
                self.stack.truncate(new_base);
                return err("Assigning to variable of incompatible type");
            }
            self.stack.push(convert(p.ty, v));
        }
        push_voids(&mut self.stack, f.locals.len());
        let saved = (self.base, self.vars);
        self.base = new_base;
        self.vars = FrameVars {
            params: &f.params,
            locals: &f.locals,
        };
        self.depth += 1;
        let r = self.stmts(&f.body);
        self.depth -= 1;
        (self.base, self.vars) = saved;
        self.stack.truncate(new_base);
        match r? {
            Flow::Return(v) => Ok(v),
            Flow::Next => Ok(Value::Void),
        }
    }

    fn eval(&mut self, e: &Expr) -> S<Value> {
        Ok(match e {
            Expr::Const(v) => v.clone(),
            Expr::Attr(a) => self.attr(*a),
            Expr::Var(s) => match self.stack.get(self.base + usize::from(s.0)) {
                Some(v) => v.clone(),
                None => return err("variable outside the frame"),
            },
            Expr::Defined(x) => Value::Bool(match &**x {
                Expr::Attr(a) => route::defined(*a, self.ctx, self.attrs()),
                x => self.eval(x)? != Value::Void,
            }),
            Expr::Not(..) | Expr::And(..) | Expr::Or(..) | Expr::Cmp(..) | Expr::Match { .. } => {
                // Always a bool (or an error): `cond` computes it without building values.
                Value::Bool(self.cond(e, "")?)
            }
            Expr::Arith(op, x, y) => {
                let (a, b) = (self.eval(x)?, self.eval(y)?);
                ops::arith(*op, &a, &b)?
            }
            Expr::Pair(x, y) => {
                let msg = "Can't operate with value of non-integer type in pair constructor";
                let a = need_int(&self.eval(x)?, msg)?;
                let b = need_int(&self.eval(y)?, msg)?;
                match (u16::try_from(a), u16::try_from(b)) {
                    (Ok(a), Ok(b)) => Value::pair(a, b),
                    _ => return err("Can't operate with value out of bounds in pair constructor"),
                }
            }
            Expr::Lc(x, y, z) => {
                let msg = "Can't operate with value of non-integer type in LC constructor";
                let a = need_int(&self.eval(x)?, msg)?;
                let b = need_int(&self.eval(y)?, msg)?;
                let c = need_int(&self.eval(z)?, msg)?;
                Value::Lc(crate::wire::LargeCommunity::new(a, b, c))
            }
            Expr::Method(m, x) => ops::method(*m, &self.eval(x)?)?,
            Expr::Modify(op, l, a) => {
                let (l, a) = (self.eval(l)?, self.eval(a)?);
                ops::modify(*op, &l, &a)?
            }
            Expr::PathMask(items) => {
                let mut out = Vec::with_capacity(items.len());
                for t in items {
                    out.push(match t {
                        MaskTerm::Item(i) => *i,
                        MaskTerm::Asn(x) => super::MaskItem::Asn(need_int(
                            &self.eval(x)?,
                            "AS path mask item is not an integer",
                        )?),
                    });
                }
                Value::PathMask(Arc::from(out))
            }
            Expr::Call(id, args) => self.call(id.0, args)?,
        })
    }

    /// A condition's truth, without building [`Value::Bool`]s for its operators: `&&`, `||`,
    /// `!`, comparisons and `~` are evaluated here directly; any other expression is evaluated
    /// and must give a bool, else `msg` (the error of the operator or statement using it).
    fn cond(&mut self, e: &Expr, msg: &'static str) -> S<bool> {
        match e {
            Expr::Not(x) => Ok(!self.cond(x, "Not applied to non-boolean")?),
            Expr::And(x, y) | Expr::Or(x, y) => {
                let short = matches!(e, Expr::Or(..));
                let msg = "Can't do boolean operation on non-booleans";
                if self.cond(x, msg)? == short {
                    Ok(short)
                } else {
                    self.cond(y, msg)
                }
            }
            Expr::Defined(x) => match &**x {
                Expr::Attr(a) => Ok(route::defined(*a, self.ctx, self.attrs())),
                x => Ok(self.eval(x)? != Value::Void),
            },
            // A constant operand is compared in place (no clone of a shared value).
            Expr::Cmp(op, x, y) => match &**y {
                Expr::Const(b) => Ok(cmp(*op, &self.eval(x)?, b)?),
                _ => {
                    let (a, b) = (self.eval(x)?, self.eval(y)?);
                    Ok(cmp(*op, &a, &b)?)
                }
            },
            Expr::Match {
                negated,
                left,
                right,
            } => Ok(self.matches(left, right)? != *negated),
            Expr::Const(Value::Bool(b)) => Ok(*b),
            e => Ok(need_bool(&self.eval(e)?, msg)?),
        }
    }

    /// `left ~ right`, with fast paths that avoid building values for the common Calico
    /// shapes (`net ~ CONST`, `PAIR ~ bgp_community`, `LC ~ bgp_large_community`).
    fn matches(&mut self, left: &Expr, right: &Expr) -> S<bool> {
        match (left, right) {
            (Expr::Attr(Attr::Net), Expr::Const(c)) => {
                let net = Value::Prefix(*self.ctx.prefix);
                ops::in_range(&net, c)
                    .ok_or(Stop::Error(RuntimeError("~ applied on unknown type pair")))
            }
            (l, Expr::Attr(Attr::BgpCommunity)) => match self.eval(l)? {
                Value::Pair(x) | Value::Quad(x) => Ok(self
                    .attrs()
                    .attrs
                    .communities
                    .contains(&crate::wire::Community(x))),
                v => self.match_values(&v, &self.attr(Attr::BgpCommunity)),
            },
            (l, Expr::Attr(Attr::BgpLargeCommunity)) => match self.eval(l)? {
                Value::Lc(x) => Ok(self.attrs().attrs.large_communities.contains(&x)),
                v => self.match_values(&v, &self.attr(Attr::BgpLargeCommunity)),
            },
            (Expr::Attr(Attr::Ifname), Expr::Const(Value::String(pat))) => {
                Ok(route::ifname_matches(self.attrs(), pat))
            }
            (l, Expr::Const(c)) => {
                let a = self.eval(l)?;
                self.match_values(&a, c)
            }
            _ => {
                let (a, b) = (self.eval(left)?, self.eval(right)?);
                self.match_values(&a, &b)
            }
        }
    }

    fn match_values(&self, a: &Value, b: &Value) -> S<bool> {
        Ok(match_values(a, b)?)
    }
}

impl Interp<'_, '_> {
    fn attr(&self, a: Attr) -> Value {
        route::read(a, self.ctx, self.attrs())
    }

    fn set_attr(&mut self, a: Attr, v: Value) -> S<()> {
        // Writing the value a scalar attribute already has changes nothing: keep the input
        // shared (Calico's kernel filter rewrites krt_metric/krt_tunnel on every route).
        let scalar = !matches!(
            a,
            Attr::BgpCommunity | Attr::BgpLargeCommunity | Attr::BgpPath
        );
        if scalar && v != Value::Void && route::read(a, self.ctx, self.attrs()) == v {
            return Ok(());
        }
        let family_v4 = self.ctx.prefix.addr().is_ipv4();
        route::write(a, self.attrs_mut(), v, family_v4).map_err(Stop::Error)
    }

    fn unset_attr(&mut self, a: Attr) -> S<()> {
        route::unset(a, self.attrs_mut()).map_err(Stop::Error)
    }
}
