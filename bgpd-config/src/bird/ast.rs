//! DOC: the parse tree of a BIRD configuration: every node carries the position (file, line,
//! column) it starts at. Protocol options are kept as written (one enum variant per option), so
//! the lowering can check them per protocol kind and report the exact place of a conflict.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::Pos;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub pos: Pos,
    pub v: T,
}

/// The whole configuration (all included files spliced in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    pub items: Vec<Item>,
}

/// A top-level statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    RouterId(At<Ipv4Addr>),
    Listen {
        pos: Pos,
        address: Option<IpAddr>,
        port: Option<u16>,
    },
    /// `log ...;` (kept, not applied: bgpd logs to standard error).
    Log(Pos),
    /// `debug protocols ...;` / `debug commands N;` (accepted, no effect).
    Debug(Pos),
    /// `timeformat ...;` (accepted, no effect).
    TimeFormat(Pos),
    /// `define NAME = expr;`
    Define(At<String>, Expr),
    Filter(FilterDef),
    Function(FunctionDef),
    /// `template KIND NAME { ... }` and `protocol KIND [NAME] [from T] { ... }`.
    Proto(ProtoDef),
}

/// Protocol kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Kernel,
    Device,
    Direct,
    Static,
    Bgp,
    Bfd,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Kernel => "kernel",
            Kind::Device => "device",
            Kind::Direct => "direct",
            Kind::Static => "static",
            Kind::Bgp => "bgp",
            Kind::Bfd => "bfd",
        }
    }
}

/// `template` or `protocol`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoDef {
    pub pos: Pos,
    pub template: bool,
    pub kind: Kind,
    pub name: Option<At<String>>,
    pub from: Option<At<String>>,
    pub opts: Vec<At<Opt>>,
}

/// `import`/`export` clause.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterRef {
    All,
    None,
    Named(At<String>),
    Inline(FilterBody),
    /// `where EXPR` (a filter accepting what the expression holds for).
    Where(Expr),
}

/// `route PREFIX ...` targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    Via(IpAddr),
    ViaIface(String),
    Blackhole,
    Unreachable,
    Prohibit,
}

/// An interface pattern of `interface` lists (`-"cali*"` excludes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfacePattern {
    pub exclude: bool,
    pub pattern: String,
}

/// `graceful restart [on|off|aware]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrMode {
    On,
    Off,
    Aware,
}

/// `add paths [on|off|rx|tx]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddPaths {
    Off,
    Rx,
    Tx,
    On,
}

/// The BFD session options of a `protocol bfd` interface/multihop block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BfdIfaceOpts {
    pub min_rx_ms: Option<u64>,
    pub min_tx_ms: Option<u64>,
    pub idle_tx_ms: Option<u64>,
    pub multiplier: Option<u64>,
    pub passive: Option<bool>,
}

/// One protocol option, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Opt {
    // Common to every protocol.
    Description(String),
    Debug,
    Disabled(bool),
    Preference(u64),
    Import(FilterRef),
    Export(FilterRef),
    RouterId(Ipv4Addr),
    // kernel
    Learn(bool),
    Persist(bool),
    ScanTime(u64),
    DeviceRoutes(bool),
    KernelTable(u64),
    Metric(u64),
    GracefulRestart(GrMode),
    MergePaths {
        on: bool,
        limit: Option<u64>,
    },
    // direct / device
    Interface(Vec<IfacePattern>),
    // static
    Route(At<IpNet>, RouteTarget),
    // bgp
    LocalAs {
        address: Option<IpAddr>,
        asn: Option<u64>,
    },
    Neighbor {
        address: IpAddr,
        port: Option<u64>,
        asn: Option<u64>,
    },
    SourceAddress(IpAddr),
    Multihop(Option<u64>),
    Direct,
    TtlSecurity(bool),
    Password(String),
    Passive(bool),
    RrClient(bool),
    RrClusterId(Ipv4Addr),
    NextHopSelf(bool),
    NextHopKeep(bool),
    AllowLocalAs(Option<u64>),
    AddPaths(AddPaths),
    GracefulRestartTime(u64),
    KeepaliveTime(u64),
    HoldTime(u64),
    StartupHoldTime(u64),
    ConnectDelayTime(u64),
    ConnectRetryTime(u64),
    ErrorWaitTime(u64, u64),
    ErrorForgetTime(u64),
    Gateway {
        recursive: bool,
    },
    Bfd(bool),
    EnableRouteRefresh(bool),
    EnableAs4(bool),
    // bfd protocol
    BfdInterface(Vec<IfacePattern>, BfdIfaceOpts),
    BfdMultihop(BfdIfaceOpts),
    BfdNeighbor {
        address: IpAddr,
        iface: Option<String>,
        multihop: bool,
    },
}

/// `filter NAME ...` body, and inline filters: local variables and statements.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterBody {
    pub pos: Pos,
    pub vars: Vec<(At<String>, VarType)>,
    pub body: Vec<Stmt>,
}

/// `filter NAME body`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterDef {
    pub name: At<String>,
    pub body: FilterBody,
}

/// `function NAME(params) body`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: At<String>,
    pub params: Vec<(At<String>, VarType)>,
    pub body: FilterBody,
}

/// Variable and parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarType {
    Int,
    Bool,
    Ip,
    Prefix,
    Pair,
    Quad,
    Lc,
    String,
    BgpPath,
    BgpMask,
    Clist,
    Lclist,
    /// `T set`.
    Set(SetElem),
}

/// The element type of a set variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetElem {
    Int,
    Pair,
    Quad,
    Ip,
    Prefix,
    Lc,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    If {
        pos: Pos,
        cond: Expr,
        then: Box<Stmt>,
        els: Option<Box<Stmt>>,
    },
    Block(Pos, Vec<Stmt>),
    Accept(Pos),
    Reject(Pos),
    Return(Pos, Option<Expr>),
    Print(Pos, Vec<Expr>),
    /// `NAME = expr;` (a variable or a route attribute).
    Assign(At<String>, Expr),
    /// `attr.add(x);`, `attr.delete(x);`, `bgp_path.prepend(n);`
    Method {
        target: At<String>,
        method: At<String>,
        arg: Expr,
    },
    /// `f(args);`
    Call(Expr),
    /// `unset(attr);`
    Unset(At<String>),
}

/// Binary operators (BIRD 1.6: `&&` and `||` have one precedence, left-associative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
    NotMatch,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn word(self) -> &'static str {
        match self {
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Gt => ">",
            BinOp::Le => "<=",
            BinOp::Ge => ">=",
            BinOp::Match => "~",
            BinOp::NotMatch => "!~",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// An element of a `[ ... ]` set.
#[derive(Debug, Clone, PartialEq)]
pub enum SetItem {
    /// `a/b`, `a/b+`, `a/b-`, `a/b{m,n}`: prefixes of length `min..=max` inside `net`.
    Prefix { net: IpNet, min: u8, max: u8 },
    /// A single value (number, pair, RTS constant, address).
    Value(Expr),
    /// `a..b`.
    Range(Expr, Expr),
}

/// An element of a path mask `[= ... =]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskItem {
    Asn(u32),
    Range(u32, u32),
    /// `*`: any number of ASes.
    Any,
    /// `?`: exactly one AS.
    One,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(Pos, u64),
    Bool(Pos, bool),
    Str(Pos, String),
    Ip(Pos, IpAddr),
    Prefix(Pos, IpNet),
    /// `(a, b)` or `(a, b, c)`.
    Tuple(Pos, Vec<Expr>),
    Set(Pos, Vec<SetItem>),
    PathMask(Pos, Vec<MaskItem>),
    /// A variable, constant (`RTS_BGP`, a `define`) or route attribute.
    Sym(At<String>),
    Call(At<String>, Vec<Expr>),
    /// `x.len`, `x.first`, `x.last`, `x.ip`, `x.mask(n)`...
    Member(Pos, Box<Expr>, At<String>, Option<Box<Expr>>),
    Defined(Pos, Box<Expr>),
    Not(Pos, Box<Expr>),
    Bin(Pos, BinOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Num(p, _)
            | Expr::Bool(p, _)
            | Expr::Str(p, _)
            | Expr::Ip(p, _)
            | Expr::Prefix(p, _)
            | Expr::Tuple(p, _)
            | Expr::Set(p, _)
            | Expr::PathMask(p, _)
            | Expr::Member(p, ..)
            | Expr::Defined(p, _)
            | Expr::Not(p, _)
            | Expr::Bin(p, ..) => *p,
            Expr::Sym(a) | Expr::Call(a, _) => a.pos,
        }
    }
}
