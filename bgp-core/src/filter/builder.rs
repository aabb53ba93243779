//! Building programs: a [`ProgramBuilder`] collects functions and filters (functions may be
//! declared before their bodies are known, so a front-end can resolve calls in one pass),
//! [`Frame`] hands out variable slots, and constructors on [`Expr`] and [`Stmt`] keep the
//! front-end's lowering short.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::ir::{
    ArithOp, Attr, CmpOp, Expr, Filter, FuncId, Function, Method, ModOp, Slot, Stmt, Var,
};
use super::value::{Type, Value};
use super::IrError;
use super::{check, code, index};

/// A compiled program: its function table and its named filters.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// The functions, indexed by [`FuncId`].
    pub functions: Arc<[Function]>,
    /// The filters by name, each sharing `functions`.
    pub filters: BTreeMap<String, Arc<Filter>>,
}

/// The variables of one function or filter body: parameters first, then locals.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    params: Vec<Var>,
    locals: Vec<Var>,
}

impl Frame {
    /// An empty frame.
    pub fn new() -> Self {
        Frame::default()
    }

    /// Adds a parameter (all parameters must be added before the first local).
    pub fn param(&mut self, name: &str, ty: Type) -> Result<Slot, IrError> {
        if !self.locals.is_empty() {
            return Err(IrError::ParamAfterLocal(name.to_string()));
        }
        self.params.push(Var {
            name: name.to_string(),
            ty,
        });
        self.slot(self.params.len())
    }

    /// Adds a local variable.
    pub fn local(&mut self, name: &str, ty: Type) -> Result<Slot, IrError> {
        self.locals.push(Var {
            name: name.to_string(),
            ty,
        });
        self.slot(self.params.len() + self.locals.len())
    }

    fn slot(&self, count: usize) -> Result<Slot, IrError> {
        u16::try_from(count - 1)
            .map(Slot)
            .map_err(|_| IrError::TooManyVariables)
    }

    /// The slot of a variable by name (the last declared wins, as a local shadows a
    /// parameter in BIRD).
    pub fn lookup(&self, name: &str) -> Option<(Slot, Type)> {
        let n = self.params.len();
        let local = self
            .locals
            .iter()
            .enumerate()
            .rev()
            .find(|(_, v)| v.name == name);
        let (i, v) = match local {
            Some((i, v)) => (n + i, v),
            None => self
                .params
                .iter()
                .enumerate()
                .rev()
                .find(|(_, v)| v.name == name)?,
        };
        Some((Slot(u16::try_from(i).ok()?), v.ty))
    }

    /// The parameters and the locals.
    pub fn into_parts(self) -> (Vec<Var>, Vec<Var>) {
        (self.params, self.locals)
    }
}

/// Collects a program's functions and filters, then checks and freezes them.
#[derive(Debug, Default)]
pub struct ProgramBuilder {
    functions: Vec<(Function, bool)>,
    names: HashMap<String, FuncId>,
    filters: Vec<(String, Vec<Var>, Vec<Stmt>)>,
}

impl ProgramBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        ProgramBuilder::default()
    }

    /// Declares a function with its parameters; its body comes with
    /// [`ProgramBuilder::define_function`]. A second function of the same name is an error.
    pub fn declare_function(&mut self, name: &str, params: Vec<Var>) -> Result<FuncId, IrError> {
        if self.names.contains_key(name) {
            return Err(IrError::DuplicateFunction(name.to_string()));
        }
        let id =
            FuncId(u32::try_from(self.functions.len()).map_err(|_| IrError::TooManyFunctions)?);
        self.functions.push((
            Function {
                name: name.to_string(),
                params,
                locals: Vec::new(),
                body: Vec::new(),
            },
            false,
        ));
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// Gives a declared function its locals and body (once).
    pub fn define_function(
        &mut self,
        id: FuncId,
        locals: Vec<Var>,
        body: Vec<Stmt>,
    ) -> Result<(), IrError> {
        let idx = usize::try_from(id.0).map_err(|_| IrError::BadFunction(id.0))?;
        let (f, defined) = self
            .functions
            .get_mut(idx)
            .ok_or(IrError::BadFunction(id.0))?;
        if *defined {
            return Err(IrError::DuplicateFunction(f.name.clone()));
        }
        f.locals = locals;
        f.body = body;
        *defined = true;
        Ok(())
    }

    /// Declares and defines a function from a [`Frame`] in one step.
    pub fn function(
        &mut self,
        name: &str,
        frame: Frame,
        body: Vec<Stmt>,
    ) -> Result<FuncId, IrError> {
        let (params, locals) = frame.into_parts();
        let id = self.declare_function(name, params)?;
        self.define_function(id, locals, body)?;
        Ok(id)
    }

    /// The function of that name, if declared.
    pub fn function_id(&self, name: &str) -> Option<FuncId> {
        self.names.get(name).copied()
    }

    /// The parameters of a declared function (for arity and type checks in the front-end).
    pub fn params(&self, id: FuncId) -> Option<&[Var]> {
        let idx = usize::try_from(id.0).ok()?;
        self.functions.get(idx).map(|(f, _)| f.params.as_slice())
    }

    /// Adds a named filter; a second filter of the same name is an error. Filter bodies have
    /// no parameters: `locals` are slots from 0.
    pub fn filter(&mut self, name: &str, locals: Vec<Var>, body: Vec<Stmt>) -> Result<(), IrError> {
        if self.filters.iter().any(|(n, _, _)| n == name) {
            return Err(IrError::DuplicateFilter(name.to_string()));
        }
        self.filters.push((name.to_string(), locals, body));
        Ok(())
    }

    /// Checks every function and filter (all declared functions defined, slots, calls and
    /// arities, assignments to writable attributes, nesting depth) and freezes the program.
    pub fn finish(self) -> Result<Program, IrError> {
        let mut functions = Vec::with_capacity(self.functions.len());
        for (mut f, defined) in self.functions {
            if !defined {
                return Err(IrError::UndefinedFunction(f.name));
            }
            f.body = index::optimize(f.body);
            functions.push(f);
        }
        let functions: Arc<[Function]> = Arc::from(functions);
        let compiled = code::functions(&functions);
        for f in functions.iter() {
            check::check_body(
                &f.name,
                f.params.len() + f.locals.len(),
                &f.body,
                &functions,
            )?;
        }
        let mut filters = BTreeMap::new();
        for (name, locals, body) in self.filters {
            let f = Filter::build(&name, locals, body, functions.clone(), compiled.clone())?;
            filters.insert(name, Arc::new(f));
        }
        Ok(Program { functions, filters })
    }
}

impl Filter {
    /// A checked filter over a function table (see [`ProgramBuilder::finish`] for the checks);
    /// computes its [`super::Analysis`].
    pub fn new(
        name: &str,
        locals: Vec<Var>,
        body: Vec<Stmt>,
        functions: Arc<[Function]>,
    ) -> Result<Filter, IrError> {
        let compiled = code::functions(&functions);
        Filter::build(name, locals, body, functions, compiled)
    }

    /// [`Filter::new`] with the function table compiled already (shared by a program's
    /// filters).
    fn build(
        name: &str,
        locals: Vec<Var>,
        body: Vec<Stmt>,
        functions: Arc<[Function]>,
        compiled: Arc<[code::CFunc]>,
    ) -> Result<Filter, IrError> {
        check::check_body(name, locals.len(), &body, &functions)?;
        let body = index::optimize(body);
        let analysis = check::analyse(&body, &functions);
        let code = code::filter(&locals, &body, compiled, &functions);
        Ok(Filter {
            name: name.to_string(),
            locals,
            body,
            functions,
            analysis,
            code,
        })
    }

    /// This filter with `prelude` run first, under a new name (the daemon's generated export
    /// wrappers: non-exported pools rejected, static routes' communities added). The prelude
    /// must not use variables or call functions.
    pub fn with_prelude(&self, name: &str, prelude: Vec<Stmt>) -> Result<Filter, IrError> {
        check::check_body(name, 0, &prelude, &[])?;
        let mut body = prelude;
        body.extend(self.body.iter().cloned());
        let compiled = self.code.0.functions.clone();
        Filter::build(
            name,
            self.locals.clone(),
            body,
            self.functions.clone(),
            compiled,
        )
    }

    /// A filter without functions or variables.
    pub fn simple(name: &str, body: Vec<Stmt>) -> Result<Filter, IrError> {
        Filter::new(name, Vec::new(), body, Arc::from(Vec::new()))
    }

    /// BIRD's `all`: accepts every route unchanged.
    pub fn accept_all() -> Filter {
        Filter::from_checked("all", vec![Stmt::Accept])
    }

    /// BIRD's `none`: rejects every route.
    pub fn reject_all() -> Filter {
        Filter::from_checked("none", vec![Stmt::Reject])
    }

    fn from_checked(name: &str, body: Vec<Stmt>) -> Filter {
        let functions: Arc<[Function]> = Arc::from(Vec::new());
        let analysis = check::analyse(&body, &functions);
        let code = code::filter(&[], &body, Arc::from(Vec::new()), &[]);
        Filter {
            name: name.to_string(),
            locals: Vec::new(),
            body,
            functions,
            analysis,
            code,
        }
    }
}

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Expr {
    /// A constant.
    pub fn val(v: Value) -> Expr {
        Expr::Const(v)
    }
    /// An `int` constant.
    pub fn int(n: u32) -> Expr {
        Expr::Const(Value::Int(n))
    }
    /// A `bool` constant.
    pub fn bool(v: bool) -> Expr {
        Expr::Const(Value::Bool(v))
    }
    /// A `string` constant.
    pub fn string(s: &str) -> Expr {
        Expr::Const(Value::string(s))
    }
    /// Reads an attribute.
    pub fn attr(a: Attr) -> Expr {
        Expr::Attr(a)
    }
    /// Reads a variable.
    pub fn var(s: Slot) -> Expr {
        Expr::Var(s)
    }
    /// `defined(e)`.
    pub fn defined(e: Expr) -> Expr {
        Expr::Defined(b(e))
    }
    /// `!e`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(e: Expr) -> Expr {
        Expr::Not(b(e))
    }
    /// `a && b`.
    pub fn and(x: Expr, y: Expr) -> Expr {
        Expr::And(b(x), b(y))
    }
    /// `a || b`.
    pub fn or(x: Expr, y: Expr) -> Expr {
        Expr::Or(b(x), b(y))
    }
    /// A comparison.
    pub fn cmp(op: CmpOp, x: Expr, y: Expr) -> Expr {
        Expr::Cmp(op, b(x), b(y))
    }
    /// `a = b`.
    pub fn eq(x: Expr, y: Expr) -> Expr {
        Expr::Cmp(CmpOp::Eq, b(x), b(y))
    }
    /// `a ~ b`.
    pub fn matches(x: Expr, y: Expr) -> Expr {
        Expr::Match {
            negated: false,
            left: b(x),
            right: b(y),
        }
    }
    /// `a !~ b`.
    pub fn not_matches(x: Expr, y: Expr) -> Expr {
        Expr::Match {
            negated: true,
            left: b(x),
            right: b(y),
        }
    }
    /// Arithmetic.
    pub fn arith(op: ArithOp, x: Expr, y: Expr) -> Expr {
        Expr::Arith(op, b(x), b(y))
    }
    /// `(a, b)`.
    pub fn pair(x: Expr, y: Expr) -> Expr {
        Expr::Pair(b(x), b(y))
    }
    /// `(a, b, c)`.
    pub fn lc(x: Expr, y: Expr, z: Expr) -> Expr {
        Expr::Lc(b(x), b(y), b(z))
    }
    /// `e.method`.
    pub fn method(m: Method, e: Expr) -> Expr {
        Expr::Method(m, b(e))
    }
    /// `add(l, x)`, `delete(l, x)`, ...
    pub fn modify(op: ModOp, list: Expr, arg: Expr) -> Expr {
        Expr::Modify(op, b(list), b(arg))
    }
    /// A call.
    pub fn call(f: FuncId, args: Vec<Expr>) -> Expr {
        Expr::Call(f, args)
    }
}

impl Stmt {
    /// `if cond then { then }`.
    pub fn if_then(cond: Expr, then: Vec<Stmt>) -> Stmt {
        Stmt::If {
            cond,
            then,
            otherwise: Vec::new(),
        }
    }
    /// `if cond then { then } else { otherwise }`.
    pub fn if_else(cond: Expr, then: Vec<Stmt>, otherwise: Vec<Stmt>) -> Stmt {
        Stmt::If {
            cond,
            then,
            otherwise,
        }
    }
    /// `attr.op(arg)`: `attr = op(attr, arg)` (`bgp_community.add((65000,1))`,
    /// `bgp_path.prepend(65000)`).
    pub fn modify_attr(op: ModOp, attr: Attr, arg: Expr) -> Stmt {
        Stmt::SetAttr(attr, Expr::modify(op, Expr::Attr(attr), arg))
    }
    /// `var.op(arg)`: `var = op(var, arg)`.
    pub fn modify_var(op: ModOp, var: Slot, arg: Expr) -> Stmt {
        Stmt::SetVar(var, Expr::modify(op, Expr::Var(var), arg))
    }
    /// `f(args);`
    pub fn call(f: FuncId, args: Vec<Expr>) -> Stmt {
        Stmt::Expr(Expr::Call(f, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::IrError;

    fn ok_program() -> ProgramBuilder {
        let mut b = ProgramBuilder::new();
        // function 'bgp_x-y_importFilterV4'(bool is_same_as) { if is_same_as then accept; }
        let mut fr = Frame::new();
        let same = fr.param("is_same_as", Type::Bool).unwrap();
        let f = b
            .function(
                "'bgp_x-y_importFilterV4'",
                fr,
                vec![Stmt::if_then(Expr::var(same), vec![Stmt::Accept])],
            )
            .unwrap();
        assert_eq!(b.function_id("'bgp_x-y_importFilterV4'"), Some(f));
        b.filter(
            "imp",
            vec![],
            vec![Stmt::call(f, vec![Expr::bool(true)]), Stmt::Reject],
        )
        .unwrap();
        b
    }

    #[test]
    fn builds_and_analyses() {
        let p = ok_program().finish().unwrap();
        let f = p.filters.get("imp").unwrap();
        assert_eq!(p.functions.len(), 1);
        // The accept inside the called function counts.
        assert!(!f.analysis.rejects_all && !f.analysis.reads_prefix && !f.analysis.writes);
        assert!(Filter::reject_all().analysis.rejects_all);
        assert!(Filter::accept_all().analysis.accepts_all);
        let net = Filter::simple(
            "n",
            vec![Stmt::if_then(
                Expr::eq(Expr::attr(Attr::Net), Expr::attr(Attr::Net)),
                vec![Stmt::SetAttr(Attr::KrtMetric, Expr::int(1))],
            )],
        )
        .unwrap();
        assert!(net.analysis.reads_prefix && net.analysis.writes && net.analysis.rejects_all);
    }

    #[test]
    fn frames_resolve_names_to_slots() {
        let mut fr = Frame::new();
        let a = fr.param("a", Type::Int).unwrap();
        let x = fr.local("x", Type::Prefix).unwrap();
        let a2 = fr.local("a", Type::Bool).unwrap();
        assert_eq!((a, x, a2), (Slot(0), Slot(1), Slot(2)));
        assert_eq!(fr.lookup("a"), Some((Slot(2), Type::Bool)));
        assert_eq!(fr.lookup("x"), Some((Slot(1), Type::Prefix)));
        assert_eq!(fr.lookup("y"), None);
        assert_eq!(
            fr.param("late", Type::Int),
            Err(IrError::ParamAfterLocal("late".into()))
        );
    }

    #[test]
    fn malformed_programs_are_errors() {
        let mut b = ok_program();
        assert!(matches!(
            b.declare_function("'bgp_x-y_importFilterV4'", vec![]),
            Err(IrError::DuplicateFunction(_))
        ));
        assert!(matches!(
            b.filter("imp", vec![], vec![]),
            Err(IrError::DuplicateFilter(_))
        ));
        b.declare_function("later", vec![]).unwrap();
        assert_eq!(
            b.finish().unwrap_err(),
            IrError::UndefinedFunction("later".into())
        );

        let f0 = FuncId(0);
        let cases: Vec<(Vec<Stmt>, IrError)> = vec![
            (
                vec![Stmt::SetVar(Slot(0), Expr::int(1))],
                IrError::BadSlot {
                    body: "t".into(),
                    slot: 0,
                },
            ),
            (
                vec![Stmt::SetAttr(Attr::Net, Expr::int(1))],
                IrError::ReadOnly {
                    body: "t".into(),
                    attr: "net",
                },
            ),
            (
                vec![Stmt::UnsetAttr(Attr::Source)],
                IrError::ReadOnly {
                    body: "t".into(),
                    attr: "source",
                },
            ),
            (vec![Stmt::call(FuncId(7), vec![])], IrError::BadFunction(7)),
            (
                vec![Stmt::call(f0, vec![])],
                IrError::Arity {
                    function: "'bgp_x-y_importFilterV4'".into(),
                    expected: 1,
                    got: 0,
                },
            ),
        ];
        let fns = ok_program().finish().unwrap().functions;
        for (body, want) in cases {
            assert_eq!(
                Filter::new("t", vec![], body, fns.clone()).unwrap_err(),
                want
            );
        }
        let mut deep = Expr::bool(true);
        for _ in 0..300 {
            deep = Expr::not(deep);
        }
        assert_eq!(
            Filter::simple("t", vec![Stmt::Expr(deep)]).unwrap_err(),
            IrError::TooDeep("t".into())
        );
    }

    #[test]
    fn names_and_types() {
        assert_eq!(Attr::by_name("krt_tunnel"), Some(Attr::KrtTunnel));
        assert_eq!(Attr::KrtTunnel.ty(), Type::String);
        assert_eq!(Attr::BgpLocalPref.name(), "bgp_local_pref");
        assert!(Attr::by_name("bgp_nope").is_none());
        assert_eq!(Type::from_keyword("bgppath"), Some(Type::Path));
        assert_eq!(Value::pair(1, 2).ty(), Type::Pair);
    }
}
