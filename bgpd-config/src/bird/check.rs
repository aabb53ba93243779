//! DOC: symbol checks over the parse tree, as BIRD makes them when it reads a file: names are
//! defined once (filters, functions, constants, protocols and templates share one namespace),
//! every name used in filter code is a local variable, a parameter, a constant (`define`,
//! `RTS_*`, `ORIGIN_*`), a route attribute or a function, calls match the function's arity,
//! and filters named by `import`/`export` exist. Statement order matters as in BIRD: a
//! function or filter must be defined before it is used.

use std::collections::HashMap;

use super::ast::*;
use super::{BirdError, Pos};

/// Route attributes of BIRD 1.6 (with Calico's `krt_tunnel`).
pub const ATTRIBUTES: &[&str] = &[
    "net",
    "source",
    "ifname",
    "preference",
    "gw",
    "from",
    "proto",
    "dest",
    "scope",
    "cast",
    "ifindex",
    "krt_metric",
    "krt_tunnel",
    "krt_prefsrc",
    "krt_realm",
    "igp_metric",
    "bgp_local_pref",
    "bgp_med",
    "bgp_next_hop",
    "bgp_origin",
    "bgp_path",
    "bgp_community",
    "bgp_large_community",
    "bgp_atomic_aggr",
    "bgp_aggregator",
    "bgp_originator_id",
    "bgp_cluster_list",
];

/// Constants every configuration knows.
pub fn builtin_constant(name: &str) -> bool {
    const PREFIXES: [&str; 4] = ["RTS_", "ORIGIN_", "SCOPE_", "RTD_"];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Built-in functions and their arity.
pub fn builtin_function(name: &str) -> Option<usize> {
    match name {
        "prepend" | "add" | "delete" | "filter" => Some(2),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Filter,
    Function(usize),
    Constant,
    Protocol,
    Template(Kind),
}

struct Checker {
    globals: HashMap<String, (Sym, Pos)>,
}

/// Checks `tree`; the first problem found.
pub fn check(tree: &Tree) -> Result<(), BirdError> {
    let mut c = Checker {
        globals: HashMap::new(),
    };
    for it in &tree.items {
        match it {
            Item::Define(n, e) => {
                c.expr(e, &[])?;
                c.define(n, Sym::Constant)?;
            }
            Item::Filter(f) => {
                // A filter may not refer to itself; define it after its body is checked.
                c.body(&f.body, &[])?;
                c.define(&f.name, Sym::Filter)?;
            }
            Item::Function(f) => {
                let params: Vec<&str> = f.params.iter().map(|(n, _)| n.v.as_str()).collect();
                c.body(&f.body, &params)?;
                c.define(&f.name, Sym::Function(f.params.len()))?;
            }
            Item::Proto(p) => c.proto(p)?,
            _ => {}
        }
    }
    Ok(())
}

impl Checker {
    fn define(&mut self, n: &At<String>, s: Sym) -> Result<(), BirdError> {
        if let Some((_, p)) = self.globals.get(&n.v) {
            return Err(BirdError::new(
                n.pos,
                format!(
                    "symbol `{}` already defined (line {}, column {})",
                    n.v, p.line, p.col
                ),
            ));
        }
        self.globals.insert(n.v.clone(), (s, n.pos));
        Ok(())
    }

    fn proto(&mut self, p: &ProtoDef) -> Result<(), BirdError> {
        if let Some(f) = &p.from {
            match self.globals.get(&f.v) {
                Some((Sym::Template(k), _)) if *k == p.kind => {}
                Some((Sym::Template(k), _)) => {
                    return Err(BirdError::new(
                        f.pos,
                        format!(
                            "template `{}` is a {} template, not {}",
                            f.v,
                            k.word(),
                            p.kind.word()
                        ),
                    ))
                }
                _ => {
                    return Err(BirdError::new(
                        f.pos,
                        format!("template `{}` is not defined", f.v),
                    ))
                }
            }
        }
        for o in &p.opts {
            if let Opt::Import(r) | Opt::Export(r) = &o.v {
                match r {
                    FilterRef::Named(n) => match self.globals.get(&n.v) {
                        Some((Sym::Filter, _)) => {}
                        _ => {
                            return Err(BirdError::new(n.pos, format!("no filter named `{}`", n.v)))
                        }
                    },
                    FilterRef::Inline(b) => self.body(b, &[])?,
                    FilterRef::Where(e) => self.expr(e, &[])?,
                    FilterRef::All | FilterRef::None => {}
                }
            }
        }
        if let Some(n) = &p.name {
            self.define(
                n,
                if p.template {
                    Sym::Template(p.kind)
                } else {
                    Sym::Protocol
                },
            )?;
        }
        Ok(())
    }

    fn body(&self, b: &FilterBody, params: &[&str]) -> Result<(), BirdError> {
        let mut scope: Vec<&str> = params.to_vec();
        for (n, _) in &b.vars {
            if scope.contains(&n.v.as_str()) {
                return Err(BirdError::new(
                    n.pos,
                    format!("variable `{}` declared twice", n.v),
                ));
            }
            scope.push(&n.v);
        }
        for s in &b.body {
            self.stmt(s, &scope)?;
        }
        Ok(())
    }

    fn stmt(&self, s: &Stmt, scope: &[&str]) -> Result<(), BirdError> {
        match s {
            Stmt::If {
                cond, then, els, ..
            } => {
                self.expr(cond, scope)?;
                self.stmt(then, scope)?;
                if let Some(e) = els {
                    self.stmt(e, scope)?;
                }
            }
            Stmt::Block(_, v) => {
                for s in v {
                    self.stmt(s, scope)?;
                }
            }
            Stmt::Accept(_) | Stmt::Reject(_) => {}
            Stmt::Return(_, e) => {
                if let Some(e) = e {
                    self.expr(e, scope)?;
                }
            }
            Stmt::Print(_, v) => {
                for e in v {
                    self.expr(e, scope)?;
                }
            }
            Stmt::Assign(t, e) => {
                if !scope.contains(&t.v.as_str()) && !ATTRIBUTES.contains(&t.v.as_str()) {
                    return Err(BirdError::new(
                        t.pos,
                        format!("`{}` is neither a variable nor a route attribute", t.v),
                    ));
                }
                self.expr(e, scope)?;
            }
            Stmt::Method { target, arg, .. } => {
                self.name(target, scope)?;
                self.expr(arg, scope)?;
            }
            Stmt::Call(e) => self.expr(e, scope)?,
            Stmt::Unset(a) => {
                if !ATTRIBUTES.contains(&a.v.as_str()) {
                    return Err(BirdError::new(
                        a.pos,
                        format!("`{}` is not a route attribute", a.v),
                    ));
                }
            }
        }
        Ok(())
    }

    fn name(&self, n: &At<String>, scope: &[&str]) -> Result<(), BirdError> {
        let s = n.v.as_str();
        if scope.contains(&s) || ATTRIBUTES.contains(&s) || builtin_constant(s) {
            return Ok(());
        }
        match self.globals.get(s) {
            Some((Sym::Constant, _)) => Ok(()),
            Some(_) => Err(BirdError::new(
                n.pos,
                format!("`{s}` is not a variable or constant"),
            )),
            None => Err(BirdError::new(n.pos, format!("unknown symbol `{s}`"))),
        }
    }

    fn expr(&self, e: &Expr, scope: &[&str]) -> Result<(), BirdError> {
        match e {
            Expr::Num(..)
            | Expr::Bool(..)
            | Expr::Str(..)
            | Expr::Ip(..)
            | Expr::Prefix(..)
            | Expr::PathMask(..) => Ok(()),
            Expr::Tuple(_, v) => v.iter().try_for_each(|x| self.expr(x, scope)),
            Expr::Set(_, items) => items.iter().try_for_each(|i| match i {
                SetItem::Prefix { .. } => Ok(()),
                SetItem::Value(x) => self.expr(x, scope),
                SetItem::Range(a, b) => {
                    self.expr(a, scope)?;
                    self.expr(b, scope)
                }
            }),
            Expr::Sym(n) => self.name(n, scope),
            Expr::Call(n, args) => {
                let arity = match self.globals.get(&n.v) {
                    Some((Sym::Function(k), _)) => *k,
                    Some(_) => {
                        return Err(BirdError::new(
                            n.pos,
                            format!("`{}` is not a function", n.v),
                        ))
                    }
                    None => builtin_function(&n.v).ok_or_else(|| {
                        BirdError::new(n.pos, format!("unknown function `{}`", n.v))
                    })?,
                };
                if args.len() != arity {
                    return Err(BirdError::new(
                        n.pos,
                        format!(
                            "function `{}` takes {arity} argument(s), {} given",
                            n.v,
                            args.len()
                        ),
                    ));
                }
                args.iter().try_for_each(|a| self.expr(a, scope))
            }
            Expr::Member(_, x, _, arg) => {
                self.expr(x, scope)?;
                if let Some(a) = arg {
                    self.expr(a, scope)?;
                }
                Ok(())
            }
            Expr::Defined(_, x) | Expr::Not(_, x) => self.expr(x, scope),
            Expr::Bin(_, _, a, b) => {
                self.expr(a, scope)?;
                self.expr(b, scope)
            }
        }
    }
}
