//! Structural checks of a program (what a front-end could get wrong) and the static analysis
//! the RIB uses to decide whether a filter's result can be cached per attribute set.

use super::ir::{Analysis, Attr, Expr, Function, MaskTerm, Stmt};
use super::IrError;

/// Deepest nesting of statements and expressions accepted: the interpreter recurses on the
/// tree, so this bounds its stack use whatever the front-end produced.
pub const MAX_NESTING: usize = 200;

struct Checker<'a> {
    name: &'a str,
    frame: usize,
    functions: &'a [Function],
}

/// Checks a body whose frame has `frame` slots against the function table.
pub(crate) fn check_body(
    name: &str,
    frame: usize,
    body: &[Stmt],
    functions: &[Function],
) -> Result<(), IrError> {
    let c = Checker {
        name,
        frame,
        functions,
    };
    c.stmts(body, 0)
}

impl Checker<'_> {
    fn err_deep(&self) -> IrError {
        IrError::TooDeep(self.name.to_string())
    }

    fn stmts(&self, body: &[Stmt], depth: usize) -> Result<(), IrError> {
        body.iter().try_for_each(|s| self.stmt(s, depth + 1))
    }

    fn slot(&self, s: super::Slot) -> Result<(), IrError> {
        if usize::from(s.0) < self.frame {
            Ok(())
        } else {
            Err(IrError::BadSlot {
                body: self.name.to_string(),
                slot: s.0,
            })
        }
    }

    fn writable(&self, a: Attr) -> Result<(), IrError> {
        if a.writable() {
            Ok(())
        } else {
            Err(IrError::ReadOnly {
                body: self.name.to_string(),
                attr: a.name(),
            })
        }
    }

    fn stmt(&self, s: &Stmt, depth: usize) -> Result<(), IrError> {
        if depth > MAX_NESTING {
            return Err(self.err_deep());
        }
        match s {
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond, depth + 1)?;
                self.stmts(then, depth)?;
                self.stmts(otherwise, depth)
            }
            Stmt::Block(b) => self.stmts(b, depth),
            Stmt::Accept | Stmt::Reject | Stmt::Return(None) => Ok(()),
            Stmt::Return(Some(e)) | Stmt::Expr(e) => self.expr(e, depth + 1),
            Stmt::SetAttr(a, e) => {
                self.writable(*a)?;
                self.expr(e, depth + 1)
            }
            Stmt::UnsetAttr(a) => self.writable(*a),
            Stmt::SetVar(v, e) => {
                self.slot(*v)?;
                self.expr(e, depth + 1)
            }
            Stmt::Print { args, .. } => args.iter().try_for_each(|e| self.expr(e, depth + 1)),
            Stmt::Indexed(ix) => self.stmts(&ix.stmts, depth),
        }
    }

    fn expr(&self, e: &Expr, depth: usize) -> Result<(), IrError> {
        if depth > MAX_NESTING {
            return Err(self.err_deep());
        }
        let d = depth + 1;
        match e {
            Expr::Const(_) | Expr::Attr(_) => Ok(()),
            Expr::Var(s) => self.slot(*s),
            Expr::Defined(x) | Expr::Not(x) | Expr::Method(_, x) => self.expr(x, d),
            Expr::And(x, y)
            | Expr::Or(x, y)
            | Expr::Cmp(_, x, y)
            | Expr::Arith(_, x, y)
            | Expr::Pair(x, y)
            | Expr::Modify(_, x, y)
            | Expr::Match {
                left: x, right: y, ..
            } => {
                self.expr(x, d)?;
                self.expr(y, d)
            }
            Expr::Lc(x, y, z) => {
                self.expr(x, d)?;
                self.expr(y, d)?;
                self.expr(z, d)
            }
            Expr::PathMask(items) => items.iter().try_for_each(|t| match t {
                MaskTerm::Item(_) => Ok(()),
                MaskTerm::Asn(x) => self.expr(x, d),
            }),
            Expr::Call(id, args) => {
                let f = usize::try_from(id.0)
                    .ok()
                    .and_then(|i| self.functions.get(i))
                    .ok_or(IrError::BadFunction(id.0))?;
                if f.params.len() != args.len() {
                    return Err(IrError::Arity {
                        function: f.name.clone(),
                        expected: f.params.len(),
                        got: args.len(),
                    });
                }
                args.iter().try_for_each(|a| self.expr(a, d))
            }
        }
    }
}

/// What a body does, over the functions it can reach.
#[derive(Default)]
struct Facts {
    reads_prefix: bool,
    writes: bool,
    prints: bool,
    accepts: bool,
}

struct Walker<'a> {
    functions: &'a [Function],
    visited: Vec<bool>,
    facts: Facts,
}

/// Computes the [`Analysis`] of a (checked) body.
pub(crate) fn analyse(body: &[Stmt], functions: &[Function]) -> Analysis {
    let mut w = Walker {
        functions,
        visited: vec![false; functions.len()],
        facts: Facts::default(),
    };
    w.stmts(body);
    Analysis {
        reads_prefix: w.facts.reads_prefix,
        writes: w.facts.writes,
        prints: w.facts.prints,
        rejects_all: !w.facts.accepts,
        accepts_all: matches!(body, [Stmt::Accept]),
    }
}

impl Walker<'_> {
    fn stmts(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.stmts(then);
                self.stmts(otherwise);
            }
            Stmt::Block(b) => self.stmts(b),
            Stmt::Accept => self.facts.accepts = true,
            Stmt::Reject | Stmt::Return(None) => {}
            Stmt::Return(Some(e)) | Stmt::Expr(e) | Stmt::SetVar(_, e) => self.expr(e),
            Stmt::SetAttr(_, e) => {
                self.facts.writes = true;
                self.expr(e);
            }
            Stmt::UnsetAttr(_) => self.facts.writes = true,
            Stmt::Print { args, .. } => {
                self.facts.prints = true;
                args.iter().for_each(|e| self.expr(e));
            }
            Stmt::Indexed(ix) => {
                self.facts.reads_prefix = true;
                self.stmts(&ix.stmts);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Const(_) | Expr::Var(_) => {}
            Expr::Attr(a) => self.facts.reads_prefix |= a.is_prefix(),
            Expr::Defined(x) | Expr::Not(x) | Expr::Method(_, x) => self.expr(x),
            Expr::And(x, y)
            | Expr::Or(x, y)
            | Expr::Cmp(_, x, y)
            | Expr::Arith(_, x, y)
            | Expr::Pair(x, y)
            | Expr::Modify(_, x, y)
            | Expr::Match {
                left: x, right: y, ..
            } => {
                self.expr(x);
                self.expr(y);
            }
            Expr::Lc(x, y, z) => {
                self.expr(x);
                self.expr(y);
                self.expr(z);
            }
            Expr::PathMask(items) => {
                for t in items {
                    if let MaskTerm::Asn(x) = t {
                        self.expr(x);
                    }
                }
            }
            Expr::Call(id, args) => {
                args.iter().for_each(|a| self.expr(a));
                let Ok(i) = usize::try_from(id.0) else {
                    return;
                };
                let functions = self.functions;
                if let Some(v) = self.visited.get_mut(i) {
                    if !*v {
                        *v = true;
                        if let Some(f) = functions.get(i) {
                            self.stmts(&f.body);
                        }
                    }
                }
            }
        }
    }
}
