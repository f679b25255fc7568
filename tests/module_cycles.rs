//! The crate's top-level modules (those declared in `src/lib.rs`) must not import each other in
//! a cycle: each module owns one concept (docs/ARCHITECTURE.md), and a cycle means two
//! concepts cannot be understood, tested or changed apart.
//!
//! The test reads every `.rs` file under `src/` and records an edge `A -> B` for each reference
//! from a file of module `A` to top-level module `B`: `crate::B` paths (in `use` lines, grouped
//! `use crate::{B, ..}` imports and inline paths, `$crate::B` in macros included) and `super::`
//! chains that climb to the crate root (from `src/A.rs` or `src/A/mod.rs`, `super::B` is
//! `crate::B`). Comments and string literals are ignored. `src/lib.rs` and `src/main.rs` are
//! crate roots, not modules, and contribute no edges.
//!
//! Test-only code is excluded: items under `#[cfg(test)]` (or `#[cfg(all(test, ..))]`),
//! including whole files declared by such a `mod`. A unit test may reach across modules to
//! build its fixtures without making the production modules depend on each other.
//!
//! To see the graph (every edge with the lines that create it):
//!
//! ```text
//! cargo test --test module_cycles -- --nocapture
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Where one reference to another module is written.
#[derive(Debug, Clone)]
struct Site {
    file: String,
    line: usize,
    text: String,
}

/// `from -> to -> the sites that create the edge`.
type Graph = BTreeMap<String, BTreeMap<String, Vec<Site>>>;

// ---- lexing: blank out comments and literals, keep line structure ------------------------

/// The source with comments and the contents of string, char and byte literals replaced by
/// spaces (newlines kept), so that a scan for paths sees code only and line numbers hold.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(c[i - 1]);
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (ch == 'r' || (ch == 'b' && next == Some('r'))) && {
            // A raw string: r"..", r#".."#, br"..".
            let mut j = i + if ch == 'b' { 2 } else { 1 };
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            let start = i + if ch == 'b' { 2 } else { 1 };
            let mut j = start;
            while c[j] == '#' {
                j += 1;
            }
            let hashes = j - start;
            for _ in i..=j {
                out.push(' ');
            }
            i = j + 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if ch == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a), which is kept.
            let close = if next == Some('\\') {
                (i + 3..c.len()).find(|&j| c[j] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(ch);
                    i += 1;
                }
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Identifiers, `::` and single punctuation characters, each with its 1-based line.
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(c[start..i].iter().collect()), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

// ---- scanning one file --------------------------------------------------------------------

/// What one file refers to.
#[derive(Debug, Default)]
struct FileRefs {
    /// (top-level module named, line).
    refs: Vec<(String, usize)>,
    /// Child modules declared as `mod x;` under a test-only attribute.
    test_only_children: Vec<String>,
    /// The whole file is test-only (`#![cfg(test)]`).
    test_only: bool,
}

/// Whether an attribute's tokens (between `[` and `]`) are `cfg(test)` or `cfg(all(.., test, ..))`.
fn is_test_cfg(attr: &[Tok]) -> bool {
    let ident = |t: &Tok, s: &str| matches!(t, Tok::Ident(x) if x == s);
    if attr.len() < 4 || !ident(&attr[0], "cfg") || attr[1] != Tok::Punct('(') {
        return false;
    }
    if attr.len() == 4 && ident(&attr[2], "test") {
        return true;
    }
    if ident(&attr[2], "all") && attr.get(3) == Some(&Tok::Punct('(')) {
        // Arguments of all(..) at its own depth.
        let mut depth = 0;
        for t in &attr[4..] {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') if depth == 0 => break,
                Tok::Punct(')') => depth -= 1,
                t if depth == 0 && ident(t, "test") => return true,
                _ => {}
            }
        }
    }
    false
}

/// Index just past the bracket group that opens at `open` (`[`, `(` or `{`).
fn skip_group(toks: &[(Tok, usize)], open: usize) -> usize {
    let (o, c) = match toks[open].0 {
        Tok::Punct('[') => ('[', ']'),
        Tok::Punct('(') => ('(', ')'),
        _ => ('{', '}'),
    };
    let mut depth = 0;
    let mut i = open;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct(p) if p == o => depth += 1,
            Tok::Punct(p) if p == c => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// Index just past the item starting at `i`: through its first `;` at depth 0, or through the
/// brace group that ends it (and a `;` right after it, as in `use a::{b, c};`).
fn skip_item(toks: &[(Tok, usize)], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('(') | Tok::Punct('[') => i = skip_group(toks, i),
            Tok::Punct('{') => {
                i = skip_group(toks, i);
                if toks.get(i).map(|t| &t.0) == Some(&Tok::Punct(';')) {
                    i += 1;
                }
                return i;
            }
            _ => i += 1,
        }
    }
    i
}

/// The top-level names a path continues with after `crate::` (or a `super::` chain that
/// reached the crate root), starting at token `i`: one name, or each first segment of a
/// `{a, b::c, ..}` group.
fn path_heads(toks: &[(Tok, usize)], i: usize) -> Vec<(String, usize)> {
    match toks.get(i) {
        Some((Tok::Ident(name), line)) => vec![(name.clone(), *line)],
        Some((Tok::Punct('{'), _)) => {
            let end = skip_group(toks, i);
            let mut heads = Vec::new();
            let mut expect_head = true;
            let mut depth = 0;
            for (t, line) in &toks[i + 1..end.saturating_sub(1)] {
                match t {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => depth -= 1,
                    Tok::Punct(',') if depth == 0 => expect_head = true,
                    Tok::Ident(name) if depth == 0 && expect_head => {
                        heads.push((name.clone(), *line));
                        expect_head = false;
                    }
                    _ => {}
                }
            }
            heads
        }
        _ => Vec::new(),
    }
}

/// The references of one file whose module sits `depth` levels below the crate root
/// (`src/a.rs` and `src/a/mod.rs`: 1, `src/a/b.rs`: 2, ..).
fn scan(src: &str, depth: usize) -> FileRefs {
    let toks = tokens(&code_only(src));
    let mut out = FileRefs::default();
    // Brace depths at which inline `mod x {` blocks close; each adds one level for `super`.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut pending_mod = false;
    let ident = |i: usize, s: &str| matches!(toks.get(i), Some((Tok::Ident(x), _)) if x == s);
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('#') => {
                let inner = toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Punct('!'));
                let open = if inner { i + 2 } else { i + 1 };
                if toks.get(open).map(|t| &t.0) != Some(&Tok::Punct('[')) {
                    i += 1;
                    continue;
                }
                let end = skip_group(&toks, open);
                let attr: Vec<Tok> = toks[open + 1..end - 1]
                    .iter()
                    .map(|t| t.0.clone())
                    .collect();
                i = end;
                if !is_test_cfg(&attr) {
                    continue;
                }
                if inner {
                    out.test_only = true;
                    return out;
                }
                // Skip the item the attribute applies to (past any further attributes).
                while toks.get(i).map(|t| &t.0) == Some(&Tok::Punct('#')) {
                    i = skip_group(&toks, i + 1);
                }
                let mut j = i;
                while ident(j, "pub") || ident(j, "crate") || ident(j, "in") {
                    j += 1;
                    if toks.get(j).map(|t| &t.0) == Some(&Tok::Punct('(')) {
                        j = skip_group(&toks, j);
                    }
                }
                if ident(j, "mod") && toks.get(j + 2).map(|t| &t.0) == Some(&Tok::Punct(';')) {
                    if let Some((Tok::Ident(name), _)) = toks.get(j + 1) {
                        out.test_only_children.push(name.clone());
                    }
                }
                i = skip_item(&toks, i);
            }
            Tok::Ident(w) if w == "mod" => {
                pending_mod = matches!(toks.get(i + 1), Some((Tok::Ident(_), _)))
                    && toks.get(i + 2).map(|t| &t.0) == Some(&Tok::Punct('{'));
                i += 1;
            }
            Tok::Punct('{') => {
                braces += 1;
                if pending_mod {
                    inline_mods.push(braces);
                    pending_mod = false;
                }
                i += 1;
            }
            Tok::Punct('}') => {
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
                braces = braces.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(w) if w == "crate" && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path) => {
                // `a::crate` cannot occur, so any `crate::` starts a path from the root.
                out.refs.extend(path_heads(&toks, i + 2));
                i += 2;
            }
            Tok::Ident(w) if w == "super" && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path) => {
                let preceded_by_path = i > 0 && toks[i - 1].0 == Tok::Path;
                let mut ups = 0;
                let mut j = i;
                while ident(j, "super") && toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Path) {
                    ups += 1;
                    j += 2;
                }
                if !preceded_by_path && ups == depth + inline_mods.len() {
                    out.refs.extend(path_heads(&toks, j));
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

// ---- the crate ----------------------------------------------------------------------------

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The modules `src/lib.rs` declares (`mod x;` at its top level).
fn top_level_modules(lib_rs: &str) -> BTreeSet<String> {
    let toks = tokens(&code_only(lib_rs));
    let mut mods = BTreeSet::new();
    let mut braces = 0;
    for (k, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Punct('{') => braces += 1,
            Tok::Punct('}') => braces -= 1,
            Tok::Ident(w) if w == "mod" && braces == 0 => {
                if let (Some((Tok::Ident(name), _)), Some((Tok::Punct(';'), _))) =
                    (toks.get(k + 1), toks.get(k + 2))
                {
                    mods.insert(name.clone());
                }
            }
            _ => {}
        }
    }
    mods
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/`: `a.rs` and `a/mod.rs` are `[a]`, `a/b.rs` is
/// `[a, b]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The module graph of the crate at `root` (its `src/lib.rs` and the files under `src/`).
fn module_graph(root: &Path) -> (BTreeSet<String>, Graph) {
    let src = root.join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("reading src/lib.rs");
    let modules = top_level_modules(&lib);
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut scanned = Vec::new();
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap().to_path_buf();
        let mpath = module_path(&rel);
        // Crate roots (lib.rs, main.rs, bin/) and files of undeclared modules are not modules.
        if mpath.is_empty() || !modules.contains(&mpath[0]) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let refs = scan(&text, mpath.len());
        if refs.test_only {
            test_only.insert(mpath.clone());
        }
        for child in &refs.test_only_children {
            let mut p = mpath.clone();
            p.push(child.clone());
            test_only.insert(p);
        }
        scanned.push((rel, mpath, text, refs));
    }
    let mut graph = Graph::new();
    for m in &modules {
        graph.entry(m.clone()).or_default();
    }
    for (rel, mpath, text, refs) in scanned {
        if (1..=mpath.len()).any(|k| test_only.contains(&mpath[..k].to_vec())) {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let from = &mpath[0];
        for (to, line) in refs.refs {
            if &to == from || !modules.contains(&to) {
                continue;
            }
            let file = format!("src/{}", rel.display());
            let sites = graph.get_mut(from).unwrap().entry(to).or_default();
            // One site per line, however many paths the line holds.
            if sites
                .last()
                .is_none_or(|s| (&s.file, s.line) != (&file, line))
            {
                let text = lines.get(line - 1).unwrap_or(&"").trim().to_string();
                sites.push(Site { file, line, text });
            }
        }
    }
    (modules, graph)
}

// ---- cycles -------------------------------------------------------------------------------

/// Strongly connected components with more than one module (Tarjan).
fn tangles(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct St<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'g>(s: &mut St<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.g[v].keys() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Shortest path `from -> .. -> to` inside `within`, as the list of modules.
fn shortest_path(
    graph: &Graph,
    within: &BTreeSet<String>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([from.to_string()]);
    let mut seen = BTreeSet::from([from.to_string()]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            let mut path = vec![v.clone()];
            let mut cur = v;
            while let Some(p) = prev.get(&cur) {
                path.push(p.clone());
                cur = p.clone();
            }
            path.reverse();
            return Some(path);
        }
        for w in graph[&v].keys().filter(|w| within.contains(*w)) {
            if seen.insert(w.clone()) {
                prev.insert(w.clone(), v.clone());
                queue.push_back(w.clone());
            }
        }
    }
    None
}

/// Cycles covering every edge inside every tangle: for each edge `a -> b`, `a -> b` plus the
/// shortest way back from `b` to `a`. Each cycle starts at its smallest module, duplicates
/// dropped, so breaking one edge of each printed cycle is a complete to-do list.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = BTreeSet::new();
    for comp in tangles(graph) {
        for a in &comp {
            for b in graph[a].keys().filter(|b| comp.contains(*b)) {
                let mut cycle = vec![a.clone()];
                cycle.extend(shortest_path(graph, &comp, b, a).unwrap());
                cycle.pop();
                let start = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap();
                cycle.rotate_left(start);
                found.insert(cycle);
            }
        }
    }
    found.into_iter().collect()
}

fn describe_edge(graph: &Graph, a: &str, b: &str) -> String {
    let mut s = format!("  {a} -> {b}:\n");
    for site in &graph[a][b] {
        s += &format!("    {}:{}: {}\n", site.file, site.line, site.text);
    }
    s
}

fn describe_cycle(graph: &Graph, cycle: &[String]) -> String {
    let mut names = cycle.to_vec();
    names.push(cycle[0].clone());
    let mut s = format!("cycle: {}\n", names.join(" -> "));
    for w in names.windows(2) {
        s += &describe_edge(graph, &w[0], &w[1]);
    }
    s
}

#[test]
fn top_level_modules_form_no_cycle() {
    let (modules, graph) = module_graph(&crate_dir());
    assert!(
        modules.len() > 1,
        "found no modules in src/lib.rs: {modules:?}"
    );
    println!("module graph ({} modules):", modules.len());
    for (a, outs) in &graph {
        let targets: Vec<&str> = outs.keys().map(String::as_str).collect();
        if targets.is_empty() {
            println!("{a} -> (nothing)");
        } else {
            println!("{a} -> {}", targets.join(", "));
        }
    }
    println!();
    for (a, outs) in &graph {
        for b in outs.keys() {
            print!("{}", describe_edge(&graph, a, b));
        }
    }
    let found = cycles(&graph);
    let report: String = found.iter().map(|c| describe_cycle(&graph, c)).collect();
    assert!(
        found.is_empty(),
        "{} module cycle(s); break one edge of each by moving the shared item down to the \
         module that owns its concept (or to a neutral module both can import):\n{report}",
        found.len()
    );
}

// ---- the scanner on small inputs ------------------------------------------------------------

fn heads(src: &str, depth: usize) -> Vec<String> {
    scan(src, depth).refs.into_iter().map(|r| r.0).collect()
}

#[test]
fn scanner_reads_use_lines_groups_and_inline_paths() {
    let src = "use crate::a::X;\nuse crate::{b, c::{D, E}, self};\nfn f() { crate::d::g(); }\n\
               macro_rules! m { () => { $crate::e::h() } }\npub(crate) fn k() {}";
    assert_eq!(heads(src, 1), ["a", "b", "c", "self", "d", "e"]);
}

#[test]
fn scanner_resolves_super_by_depth() {
    // From a top-level module's root file `super` is the crate root; one level down it is the
    // module itself, and an inline `mod` adds a level.
    assert_eq!(heads("use super::a::X;", 1), ["a"]);
    assert!(heads("use super::a::X;", 2).is_empty());
    assert_eq!(heads("use super::super::{a, b};", 2), ["a", "b"]);
    assert_eq!(heads("mod inner { use super::super::a; }", 1), ["a"]);
    assert!(heads("mod inner { use super::a; }", 1).is_empty());
    assert!(heads("pub(super) fn f() {}", 1).is_empty());
}

#[test]
fn scanner_skips_comments_strings_and_test_code() {
    let src = r##"
// use crate::a;
/* crate::b /* nested */ crate::c */
/// [`crate::d`]
const S: &str = "crate::e";
const R: &str = r#"crate::f"#;
const C: char = '"';
fn life<'a>(x: &'a str) -> &'a str { crate::g::h(x) }
#[cfg(test)]
mod tests { use crate::i; }
#[cfg(test)]
use crate::j;
#[cfg(all(test, feature = "x"))]
fn helper() { crate::k::f(); }
#[cfg(any(test, feature = "x"))]
fn both() { crate::l::f(); }
#[cfg(test)]
mod fixtures;
"##;
    let refs = scan(src, 1);
    let names: Vec<&str> = refs.refs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["g", "l"]);
    assert_eq!(refs.refs[0].1, 8, "line of crate::g");
    assert_eq!(refs.test_only_children, ["fixtures"]);
    assert!(scan("#![cfg(test)]\nuse crate::a;", 1).test_only);
}

#[test]
fn cycles_name_every_edge_of_a_tangle() {
    let site = || Site {
        file: "src/x.rs".into(),
        line: 1,
        text: String::new(),
    };
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), vec![site()]);
        g.entry(b.into()).or_default();
    }
    let found = cycles(&g);
    assert_eq!(
        found,
        [vec!["a", "b"], vec!["a", "b", "c"]]
            .map(|c| c.into_iter().map(String::from).collect::<Vec<_>>())
    );
}
