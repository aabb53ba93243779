//! The filter program: route attributes, expressions, statements, functions and named filters.
//!
//! Names are resolved by the front-end: variables and parameters become [`Slot`]s of the
//! enclosing function's frame, function calls name a [`FuncId`] in the program's function table,
//! attributes are [`Attr`] values. Nothing in the tree is looked up by name at run time.

use std::sync::Arc;

use super::value::{EnumKind, MaskItem, Type, Value};

/// A route attribute, read with [`Expr::Attr`] and written with [`Stmt::SetAttr`]
/// (BIRD 1.6 user guide, "Route attributes", and the BGP protocol's attribute list).
///
/// Reading an attribute the route does not have yields [`Value::Void`] for the optional BGP
/// attributes (so `defined(bgp_med)` can test it) and for `krt_metric`, `krt_tunnel`,
/// `ifname` and `preference`-less routes as documented on each variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    /// `net` (prefix, read-only): the route's destination.
    Net,
    /// `source` (enum `RTS_*`, read-only): where the route came from (`RTS_BGP`,
    /// `RTS_STATIC`, `RTS_INHERIT` for kernel routes, `RTS_DEVICE` for direct ones).
    Source,
    /// `dest` (enum `RTD_*`): `RTD_ROUTER`, `RTD_DEVICE`, `RTD_BLACKHOLE`, `RTD_UNREACHABLE`,
    /// `RTD_PROHIBIT`.
    Dest,
    /// `ifname` (string, read-only in BIRD 1.6): the outgoing interface of a route that has
    /// one; void otherwise.
    Ifname,
    /// `preference` (int): the route's preference (first decision step); reads as the
    /// protocol's default when not set.
    Preference,
    /// `gw` (ip): the gateway (for BGP routes, the next hop).
    Gw,
    /// `from` (ip, read-only here): the address of the neighbour the route came from.
    From,
    /// `proto` (string, read-only): the name of the protocol that originated the route.
    Proto,
    /// `krt_metric` (int): the kernel route metric; void until set (the kernel protocol then
    /// installs metric 0, or the protocol's `metric`).
    KrtMetric,
    /// `krt_tunnel` (string, Calico's BIRD fork): a non-empty interface name installs the route
    /// `via NEXT_HOP dev NAME onlink`; empty means a normal route. Void until set.
    KrtTunnel,
    /// `bgp_origin` (enum `ORIGIN_*`).
    BgpOrigin,
    /// `bgp_path` (bgppath).
    BgpPath,
    /// `bgp_next_hop` (ip).
    BgpNextHop,
    /// `bgp_med` (int), optional.
    BgpMed,
    /// `bgp_local_pref` (int), optional.
    BgpLocalPref,
    /// `bgp_community` (clist), optional.
    BgpCommunity,
    /// `bgp_large_community` (lclist), optional.
    BgpLargeCommunity,
    /// `bgp_originator_id` (quad), optional.
    BgpOriginatorId,
}

/// Every attribute with its BIRD name, type and whether filters may assign it.
const ATTRS: &[(Attr, &str, Type, bool)] = &[
    (Attr::Net, "net", Type::Prefix, false),
    (Attr::Source, "source", Type::Enum(EnumKind::Source), false),
    (Attr::Dest, "dest", Type::Enum(EnumKind::Dest), true),
    (Attr::Ifname, "ifname", Type::String, false),
    (Attr::Preference, "preference", Type::Int, true),
    (Attr::Gw, "gw", Type::Ip, true),
    (Attr::From, "from", Type::Ip, false),
    (Attr::Proto, "proto", Type::String, false),
    (Attr::KrtMetric, "krt_metric", Type::Int, true),
    (Attr::KrtTunnel, "krt_tunnel", Type::String, true),
    (
        Attr::BgpOrigin,
        "bgp_origin",
        Type::Enum(EnumKind::Origin),
        true,
    ),
    (Attr::BgpPath, "bgp_path", Type::Path, true),
    (Attr::BgpNextHop, "bgp_next_hop", Type::Ip, true),
    (Attr::BgpMed, "bgp_med", Type::Int, true),
    (Attr::BgpLocalPref, "bgp_local_pref", Type::Int, true),
    (Attr::BgpCommunity, "bgp_community", Type::Clist, true),
    (
        Attr::BgpLargeCommunity,
        "bgp_large_community",
        Type::Lclist,
        true,
    ),
    (Attr::BgpOriginatorId, "bgp_originator_id", Type::Quad, true),
];

impl Attr {
    /// The attribute a BIRD name stands for (`"bgp_local_pref"`).
    pub fn by_name(name: &str) -> Option<Attr> {
        ATTRS.iter().find(|a| a.1 == name).map(|a| a.0)
    }

    fn entry(self) -> (Attr, &'static str, Type, bool) {
        ATTRS
            .iter()
            .copied()
            .find(|a| a.0 == self)
            .unwrap_or((self, "?", Type::Void, false))
    }

    /// BIRD's name.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The type of the attribute's value.
    pub fn ty(self) -> Type {
        self.entry().2
    }

    /// Whether a filter may assign it (`net`, `source`, `ifname`, `from` and `proto` are
    /// read-only).
    pub fn writable(self) -> bool {
        self.entry().3
    }

    /// Whether the value depends on the prefix rather than on the attribute set alone: only
    /// `net`. A filter that never reads it gives the same result for every prefix sharing an
    /// attribute set, which is what lets the RIB cache results per attribute set.
    pub fn is_prefix(self) -> bool {
        self == Attr::Net
    }
}

/// A variable's place in the frame of the function or filter that declares it: parameters
/// first (in order), then local variables. Slots are per frame; a callee has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u16);

/// A function's index in its program's function table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(pub u32);

/// Comparison operators (`=`, `!=`, `<`, `>`, `<=`, `>=`). BIRD compares values of the same
/// type only (ints, pairs and quads unsigned, addresses and prefixes by address then length,
/// strings bytewise); comparing values of different types is a run-time error, except `=`/`!=`
/// which are simply false/true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
}

/// Integer arithmetic on BIRD's 32-bit ints (wrapping, as BIRD's C does). Division by zero is
/// a run-time error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
}

/// Methods (`x.len`, `x.first`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `.len`: a path's length (an AS_SET counts as one), a prefix's length, a (l)clist's
    /// number of entries.
    Len,
    /// `.first`: a path's first (neighbouring) AS; 0 when there is none.
    First,
    /// `.last`: a path's last (originating) AS; 0 when there is none.
    Last,
    /// `.ip`: a prefix's address.
    Ip,
}

/// List modifications: `bgp_community.add(x)` is `bgp_community = add(bgp_community, x)`
/// (BIRD defines the method form as that assignment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModOp {
    /// `add(list, x)`: a (l)clist with `x` appended unless present; `x` may also be a
    /// (l)clist.
    Add,
    /// `delete(list, x)`: without `x`; `x` may be a pair/lc, a pair/lc set or a (l)clist.
    Delete,
    /// `filter(list, x)`: only the entries in the set `x`.
    Filter,
    /// `prepend(path, asn)`: the path with `asn` in front.
    Prepend,
}

/// One item of an AS-path mask expression: a constant item, or an expression evaluated to an
/// AS number when the mask is built (`[= * (x) * =]`).
#[derive(Debug, Clone, PartialEq)]
pub enum MaskTerm {
    /// A constant item.
    Item(MaskItem),
    /// An expression giving an `int`.
    Asn(Expr),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant (literals, set literals, `define`d constants).
    Const(Value),
    /// Reads a route attribute.
    Attr(Attr),
    /// Reads a parameter or local variable of the current frame.
    Var(Slot),
    /// `defined(e)`: whether `e` has a value (is not void). `defined(bgp_med)` tests whether
    /// the route has the attribute; attributes every route has (`net`, `source`, `dest`,
    /// `preference`) are always defined.
    Defined(Box<Expr>),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b`: `b` is evaluated only when `a` is true.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`: `b` is evaluated only when `a` is false.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `a ~ b` (`negated`: `a !~ b`): membership or match, by types: prefix in prefix (subnet),
    /// ip in prefix, value in set, prefix in prefix set, pair in clist, lc in lclist, set or
    /// pair/lc intersecting a list, path against mask, string against shell pattern.
    Match {
        /// `!~` rather than `~`.
        negated: bool,
        /// The left side.
        left: Box<Expr>,
        /// The right side.
        right: Box<Expr>,
    },
    /// Integer arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `(a, b)` from expressions: a pair (each must fit 16 bits).
    Pair(Box<Expr>, Box<Expr>),
    /// `(a, b, c)` from expressions: a large community.
    Lc(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `e.len`, `e.first`, ...
    Method(Method, Box<Expr>),
    /// `add(l, x)`, `delete(l, x)`, `filter(l, x)`, `prepend(p, a)` as values.
    Modify(ModOp, Box<Expr>, Box<Expr>),
    /// `[= ... =]` with expression items.
    PathMask(Vec<MaskTerm>),
    /// A call of a function with arguments (one per parameter); its value is what the function
    /// `return`s, void if nothing.
    Call(FuncId, Vec<Expr>),
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `if cond then a; [else b;]`; a condition that is not a bool is a run-time error.
    If {
        /// The condition.
        cond: Expr,
        /// Run when true.
        then: Vec<Stmt>,
        /// Run when false (empty when there is no `else`).
        otherwise: Vec<Stmt>,
    },
    /// `{ ... }`: statements in order (BIRD 1.6 blocks have no scope of their own).
    Block(Vec<Stmt>),
    /// `accept`: ends the whole filter (from any function depth) and keeps the route.
    Accept,
    /// `reject`: ends the whole filter and drops the route.
    Reject,
    /// `return [e]`: ends the current function with the value (void without one). At filter
    /// level it ends the filter without a verdict, which rejects.
    Return(Option<Expr>),
    /// `attr = e`.
    SetAttr(Attr, Expr),
    /// `unset(attr)`: removes an optional attribute.
    UnsetAttr(Attr),
    /// `var = e`.
    SetVar(Slot, Expr),
    /// `print a, b;` (`newline`) / `printn a, b;` (no newline): logs the values.
    Print {
        /// The values, printed one after another.
        args: Vec<Expr>,
        /// `print` ends the line, `printn` does not.
        newline: bool,
    },
    /// An expression run for its effects, typically a function call `f(x);`.
    Expr(Expr),
    /// A run of prefix-guarded `if`s with an index ([`super::PrefixIndex`]): produced when a
    /// filter or function is built, never needed from a front-end; runs exactly as the
    /// statements it holds would.
    Indexed(Arc<super::PrefixIndex>),
}

/// A variable declaration (parameter or local): its source name (for messages) and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// The name as written.
    pub name: String,
    /// The declared type; assignments of another type are run-time errors.
    pub ty: Type,
}

/// A function: `function NAME(T1 a; T2 b) T3 local; { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// The name as written (quoted names like `'bgp_x-y_importFilterV4'` are ordinary names).
    pub name: String,
    /// Parameters: slots `0..params.len()`.
    pub params: Vec<Var>,
    /// Local variables: the slots after the parameters.
    pub locals: Vec<Var>,
    /// The statements.
    pub body: Vec<Stmt>,
}

/// What a static pass found about a filter (functions it calls included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Analysis {
    /// Reads `net` somewhere: its result may depend on the prefix. When false, the result is a
    /// function of the attribute set, source and neighbour only, and callers may cache it.
    pub reads_prefix: bool,
    /// Writes some attribute somewhere: when false, an accepted route leaves unchanged.
    pub writes: bool,
    /// Can print: printing is an effect that caching would skip.
    pub prints: bool,
    /// No path through the filter can accept (only `reject`s, or nothing): no route passes.
    pub rejects_all: bool,
    /// The body is exactly `accept` (BIRD's `all`).
    pub accepts_all: bool,
}

/// A named filter, ready to run: its body, its frame and the function table of the program
/// it was compiled in (shared with the program's other filters).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The name (`filter NAME`, a TOML policy name, or a generated one for inline filters).
    pub name: String,
    /// Local variables of the filter body (slots from 0).
    pub locals: Vec<Var>,
    /// The statements.
    pub body: Vec<Stmt>,
    /// The program's functions, indexed by [`FuncId`].
    pub functions: Arc<[Function]>,
    /// Static facts, computed when the filter is built.
    pub analysis: Analysis,
    /// The compiled form [`Filter::run`] executes, built with the filter.
    pub(super) code: super::code::Compiled,
}
