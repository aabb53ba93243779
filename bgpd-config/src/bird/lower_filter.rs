//! DOC: filter code onto the filter engine's representation (`bgp_core::filter`): functions in
//! definition order, then every filter a protocol refers to (named ones, inline ones under their
//! synthetic names, `all`/`none`). Names are resolved here: variables and parameters to frame
//! slots, route attributes to [`Attr`]s, `RTS_*`/`ORIGIN_*`/... to enum values, `define`d
//! names to their constant values, calls to function ids. Set literals become sets of one kind
//! at compile time. What the engine cannot express is an error at its position.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use bgp_core::filter::{
    self as f, ArithOp, Attr, CmpOp, EnumValue, Frame, MaskItem, MaskTerm, Method, ModOp,
    PrefixRange, PrefixSet, ProgramBuilder, RangeSet, Set, SetKind, Type, Value,
};
use bgp_core::wire::LargeCommunity;

use super::ast::{self, At, BinOp, Expr, SetItem, Stmt, VarType};
use super::lower::{FilterSrc, Lowered};
use super::{BirdError, Pos};

/// The compiled filters of a lowered configuration, by name.
pub fn compile(l: &Lowered) -> Result<BTreeMap<String, Arc<f::Filter>>, BirdError> {
    let mut c = Compiler {
        pb: ProgramBuilder::new(),
        consts: HashMap::new(),
    };
    for (n, e) in &l.defines {
        let v = c.lower_expr(e, &Frame::new())?;
        let f::Expr::Const(v) = v else {
            return Err(BirdError::new(
                n.pos,
                format!("`define {}`: only constant values are supported", n.v),
            ));
        };
        c.consts.insert(n.v.clone(), v);
    }
    for func in &l.functions {
        let mut frame = Frame::new();
        for (n, t) in &func.params {
            frame.param(&n.v, ty(*t)).map_err(|e| ir(n.pos, e))?;
        }
        for (n, t) in &func.body.vars {
            frame.local(&n.v, ty(*t)).map_err(|e| ir(n.pos, e))?;
        }
        let body = c.stmts(&func.body.body, &frame)?;
        c.pb.function(&func.name.v, frame, body)
            .map_err(|e| ir(func.name.pos, e))?;
    }
    for (name, src) in &l.filters {
        let (pos, locals, body) = match src {
            FilterSrc::All => (Pos::default(), Vec::new(), vec![f::Stmt::Accept]),
            FilterSrc::None => (Pos::default(), Vec::new(), vec![f::Stmt::Reject]),
            FilterSrc::Where(e) => {
                let frame = Frame::new();
                let cond = c.lower_expr(e, &frame)?;
                (
                    e.pos(),
                    Vec::new(),
                    vec![
                        f::Stmt::if_then(cond, vec![f::Stmt::Accept]),
                        f::Stmt::Reject,
                    ],
                )
            }
            FilterSrc::Body(b) => {
                let mut frame = Frame::new();
                for (n, t) in &b.vars {
                    frame.local(&n.v, ty(*t)).map_err(|e| ir(n.pos, e))?;
                }
                let body = c.stmts(&b.body, &frame)?;
                (b.pos, frame.into_parts().1, body)
            }
        };
        c.pb.filter(name, locals, body).map_err(|e| ir(pos, e))?;
    }
    let prog = c.pb.finish().map_err(|e| ir(Pos::default(), e))?;
    Ok(prog.filters)
}

fn ir(pos: Pos, e: f::IrError) -> BirdError {
    BirdError::new(pos, e.to_string())
}

fn ty(t: VarType) -> Type {
    match t {
        VarType::Int => Type::Int,
        VarType::Bool => Type::Bool,
        VarType::Ip => Type::Ip,
        VarType::Prefix => Type::Prefix,
        VarType::Pair => Type::Pair,
        VarType::Quad => Type::Quad,
        VarType::Lc => Type::Lc,
        VarType::String => Type::String,
        VarType::BgpPath => Type::Path,
        VarType::BgpMask => Type::PathMask,
        VarType::Clist => Type::Clist,
        VarType::Lclist => Type::Lclist,
        VarType::Set(e) => Type::Set(match e {
            ast::SetElem::Int => SetKind::Int,
            ast::SetElem::Pair => SetKind::Pair,
            ast::SetElem::Quad => SetKind::Quad,
            ast::SetElem::Ip => SetKind::Ip,
            ast::SetElem::Prefix => SetKind::Prefix,
            ast::SetElem::Lc => SetKind::Lc,
        }),
    }
}

struct Compiler {
    pb: ProgramBuilder,
    consts: HashMap<String, Value>,
}

fn err<T>(pos: Pos, msg: impl Into<String>) -> Result<T, BirdError> {
    Err(BirdError::new(pos, msg))
}

fn attr(n: &At<String>) -> Result<Attr, BirdError> {
    Attr::by_name(&n.v)
        .ok_or_else(|| BirdError::new(n.pos, format!("route attribute `{}` is not supported", n.v)))
}

impl Compiler {
    fn stmts(&self, v: &[Stmt], fr: &Frame) -> Result<Vec<f::Stmt>, BirdError> {
        v.iter().map(|s| self.stmt(s, fr)).collect()
    }

    /// A branch of `if`: a block's statements, or the one statement.
    fn branch(&self, s: &Stmt, fr: &Frame) -> Result<Vec<f::Stmt>, BirdError> {
        match s {
            Stmt::Block(_, v) => self.stmts(v, fr),
            s => Ok(vec![self.stmt(s, fr)?]),
        }
    }

    fn stmt(&self, s: &Stmt, fr: &Frame) -> Result<f::Stmt, BirdError> {
        Ok(match s {
            Stmt::If {
                cond, then, els, ..
            } => {
                let c = self.lower_expr(cond, fr)?;
                let t = self.branch(then, fr)?;
                match els {
                    Some(e) => f::Stmt::if_else(c, t, self.branch(e, fr)?),
                    None => f::Stmt::if_then(c, t),
                }
            }
            Stmt::Block(_, v) => f::Stmt::Block(self.stmts(v, fr)?),
            Stmt::Accept(_) => f::Stmt::Accept,
            Stmt::Reject(_) => f::Stmt::Reject,
            Stmt::Return(_, e) => f::Stmt::Return(match e {
                Some(e) => Some(self.lower_expr(e, fr)?),
                None => None,
            }),
            Stmt::Print(_, v) => f::Stmt::Print {
                args: v
                    .iter()
                    .map(|e| self.lower_expr(e, fr))
                    .collect::<Result<_, _>>()?,
                newline: true,
            },
            Stmt::Assign(t, e) => {
                let v = self.lower_expr(e, fr)?;
                if let Some((slot, _)) = fr.lookup(&t.v) {
                    f::Stmt::SetVar(slot, v)
                } else {
                    let a = attr(t)?;
                    if !a.writable() {
                        return err(t.pos, format!("route attribute `{}` is read-only", t.v));
                    }
                    f::Stmt::SetAttr(a, v)
                }
            }
            Stmt::Method {
                target,
                method,
                arg,
            } => {
                let op = match method.v.as_str() {
                    "add" => ModOp::Add,
                    "delete" => ModOp::Delete,
                    "filter" => ModOp::Filter,
                    _ => ModOp::Prepend,
                };
                let a = self.lower_expr(arg, fr)?;
                if let Some((slot, _)) = fr.lookup(&target.v) {
                    f::Stmt::modify_var(op, slot, a)
                } else {
                    let at = attr(target)?;
                    if !at.writable() {
                        return err(
                            target.pos,
                            format!("route attribute `{}` is read-only", target.v),
                        );
                    }
                    f::Stmt::modify_attr(op, at, a)
                }
            }
            Stmt::Call(e) => f::Stmt::Expr(self.lower_expr(e, fr)?),
            Stmt::Unset(a) => f::Stmt::UnsetAttr(attr(a)?),
        })
    }

    fn lower_expr(&self, e: &Expr, fr: &Frame) -> Result<f::Expr, BirdError> {
        let b = |x: &Expr| self.lower_expr(x, fr);
        Ok(match e {
            Expr::Num(p, n) => f::Expr::int(num32(*p, *n)?),
            Expr::Bool(_, v) => f::Expr::bool(*v),
            Expr::Str(_, s) => f::Expr::string(s),
            Expr::Ip(_, a) => f::Expr::val(Value::Ip(*a)),
            Expr::Prefix(_, n) => f::Expr::val(Value::Prefix(*n)),
            Expr::Tuple(p, v) => match v.as_slice() {
                [x, y] => match (b(x)?, b(y)?) {
                    (f::Expr::Const(Value::Int(a)), f::Expr::Const(Value::Int(c))) => {
                        let (Ok(a), Ok(c)) = (u16::try_from(a), u16::try_from(c)) else {
                            return err(*p, "a pair's halves are 16-bit numbers");
                        };
                        f::Expr::val(Value::pair(a, c))
                    }
                    (x, y) => f::Expr::pair(x, y),
                },
                [x, y, z] => match (b(x)?, b(y)?, b(z)?) {
                    (
                        f::Expr::Const(Value::Int(a)),
                        f::Expr::Const(Value::Int(c)),
                        f::Expr::Const(Value::Int(d)),
                    ) => f::Expr::val(Value::Lc(LargeCommunity::new(a, c, d))),
                    (x, y, z) => f::Expr::lc(x, y, z),
                },
                _ => return err(*p, "a tuple has two or three elements"),
            },
            Expr::Set(p, items) => f::Expr::val(Value::set(self.set(*p, items, fr)?)),
            Expr::PathMask(_, items) => f::Expr::PathMask(
                items
                    .iter()
                    .map(|i| {
                        MaskTerm::Item(match *i {
                            ast::MaskItem::Asn(a) => MaskItem::Asn(a),
                            ast::MaskItem::Range(a, c) => MaskItem::Range(a, c),
                            ast::MaskItem::Any => MaskItem::AnySeq,
                            ast::MaskItem::One => MaskItem::AnyOne,
                        })
                    })
                    .collect(),
            ),
            Expr::Sym(n) => self.symbol(n, fr)?,
            Expr::Call(n, args) => {
                let args: Vec<f::Expr> = args.iter().map(b).collect::<Result<_, _>>()?;
                let op = match n.v.as_str() {
                    "prepend" => Some(ModOp::Prepend),
                    "add" => Some(ModOp::Add),
                    "delete" => Some(ModOp::Delete),
                    "filter" => Some(ModOp::Filter),
                    _ => None,
                };
                match (self.pb.function_id(&n.v), op) {
                    (Some(id), _) => f::Expr::call(id, args),
                    (None, Some(op)) => {
                        let mut it = args.into_iter();
                        match (it.next(), it.next(), it.next()) {
                            (Some(x), Some(y), None) => f::Expr::modify(op, x, y),
                            _ => return err(n.pos, format!("`{}` takes 2 arguments", n.v)),
                        }
                    }
                    (None, None) => return err(n.pos, format!("unknown function `{}`", n.v)),
                }
            }
            Expr::Member(_, x, m, arg) => {
                let meth = match (m.v.as_str(), arg) {
                    ("len", None) => Method::Len,
                    ("first", None) => Method::First,
                    ("last", None) => Method::Last,
                    ("ip", None) => Method::Ip,
                    _ => {
                        return err(m.pos, format!("`.{}` is not supported", m.v));
                    }
                };
                f::Expr::method(meth, b(x)?)
            }
            Expr::Defined(_, x) => f::Expr::defined(b(x)?),
            Expr::Not(_, x) => f::Expr::not(b(x)?),
            Expr::Bin(_, op, x, y) => {
                let (x, y) = (b(x)?, b(y)?);
                match op {
                    BinOp::And => f::Expr::and(x, y),
                    BinOp::Or => f::Expr::or(x, y),
                    BinOp::Eq => f::Expr::cmp(CmpOp::Eq, x, y),
                    BinOp::Ne => f::Expr::cmp(CmpOp::Ne, x, y),
                    BinOp::Lt => f::Expr::cmp(CmpOp::Lt, x, y),
                    BinOp::Gt => f::Expr::cmp(CmpOp::Gt, x, y),
                    BinOp::Le => f::Expr::cmp(CmpOp::Le, x, y),
                    BinOp::Ge => f::Expr::cmp(CmpOp::Ge, x, y),
                    BinOp::Match => f::Expr::matches(x, y),
                    BinOp::NotMatch => f::Expr::not_matches(x, y),
                    BinOp::Add => f::Expr::arith(ArithOp::Add, x, y),
                    BinOp::Sub => f::Expr::arith(ArithOp::Sub, x, y),
                    BinOp::Mul => f::Expr::arith(ArithOp::Mul, x, y),
                    BinOp::Div => f::Expr::arith(ArithOp::Div, x, y),
                }
            }
        })
    }

    fn symbol(&self, n: &At<String>, fr: &Frame) -> Result<f::Expr, BirdError> {
        if let Some((slot, _)) = fr.lookup(&n.v) {
            return Ok(f::Expr::var(slot));
        }
        if let Some(v) = self.consts.get(&n.v) {
            return Ok(f::Expr::val(v.clone()));
        }
        if let Some(v) = EnumValue::by_name(&n.v) {
            return Ok(f::Expr::val(Value::Enum(v)));
        }
        if let Some(a) = Attr::by_name(&n.v) {
            return Ok(f::Expr::attr(a));
        }
        err(
            n.pos,
            format!(
                "`{}` is not supported (not a variable, constant or supported route attribute)",
                n.v
            ),
        )
    }

    /// A constant set element: its value.
    fn element(&self, e: &Expr, fr: &Frame) -> Result<Value, BirdError> {
        match self.lower_expr(e, fr)? {
            f::Expr::Const(v) => Ok(v),
            _ => err(e.pos(), "set elements must be constants"),
        }
    }

    fn set(&self, pos: Pos, items: &[SetItem], fr: &Frame) -> Result<Set, BirdError> {
        let mut prefixes = Vec::new();
        let mut values: Vec<(Value, Value)> = Vec::new();
        for i in items {
            match i {
                SetItem::Prefix { net, min, max } => {
                    let r = PrefixRange::with_lengths(*net, *min, *max).ok_or_else(|| {
                        BirdError::new(pos, format!("invalid prefix pattern {net}{{{min},{max}}}"))
                    })?;
                    prefixes.push(r);
                }
                SetItem::Value(e) => {
                    let v = self.element(e, fr)?;
                    values.push((v.clone(), v));
                }
                SetItem::Range(a, b) => values.push((self.element(a, fr)?, self.element(b, fr)?)),
            }
        }
        if !prefixes.is_empty() {
            if !values.is_empty() {
                return err(pos, "a set mixes prefixes and other values");
            }
            return Ok(Set::Prefix(PrefixSet::new(prefixes)));
        }
        let mixed = || BirdError::new(pos, "a set's elements must all be of one type");
        let bad = |e: f::IrError| BirdError::new(pos, e.to_string());
        let Some((first, _)) = values.first() else {
            return Ok(Set::Int(RangeSet::new([]).map_err(bad)?));
        };
        Ok(match first {
            Value::Int(_) => Set::Int(
                RangeSet::new(
                    values
                        .iter()
                        .map(|v| match v {
                            (Value::Int(a), Value::Int(b)) => Ok((*a, *b)),
                            _ => Err(mixed()),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
                .map_err(bad)?,
            ),
            Value::Pair(_) => Set::Pair(
                RangeSet::new(
                    values
                        .iter()
                        .map(|v| match v {
                            (Value::Pair(a), Value::Pair(b)) => Ok((*a, *b)),
                            _ => Err(mixed()),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
                .map_err(bad)?,
            ),
            Value::Enum(k) => Set::Enum(
                k.kind,
                RangeSet::new(
                    values
                        .iter()
                        .map(|v| match v {
                            (Value::Enum(a), Value::Enum(b))
                                if a.kind == k.kind && b.kind == k.kind =>
                            {
                                Ok((a.value, b.value))
                            }
                            _ => Err(mixed()),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
                .map_err(bad)?,
            ),
            Value::Ip(_) => Set::Ip(
                RangeSet::new(
                    values
                        .iter()
                        .map(|v| match v {
                            (Value::Ip(a), Value::Ip(b)) => Ok((*a, *b)),
                            _ => Err(mixed()),
                        })
                        .collect::<Result<Vec<(IpAddr, IpAddr)>, _>>()?,
                )
                .map_err(bad)?,
            ),
            Value::Lc(_) => Set::Lc(
                RangeSet::new(
                    values
                        .iter()
                        .map(|v| match v {
                            (Value::Lc(a), Value::Lc(b)) => Ok((*a, *b)),
                            _ => Err(mixed()),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
                .map_err(bad)?,
            ),
            _ => return err(pos, "sets of this type are not supported"),
        })
    }
}

fn num32(pos: Pos, n: u64) -> Result<u32, BirdError> {
    u32::try_from(n).map_err(|_| BirdError::new(pos, format!("number {n} does not fit 32 bits")))
}
