//! The nesting limit: bodies deeper than `MAX_DEPTH` are located errors, found without deep
//! recursion, and the built-in profiles stay far from the limit.

use pgvm_isa::{IsaError, MAX_DEPTH, builtin_names, load, parse_str, visit};

const HEAD: &str = "isa t \"test\"\nformat rrr { op 63..56, a 55..38, b 37..20, c 19..2 }\n";

/// Parses `HEAD + body` on a thread with a 512 KiB stack, and returns the error text. An
/// unoptimized build of the parser spends up to about 6 KiB of stack per level, so the stack
/// holds the limit's 64 levels but not a tenth of the inputs' 2,000: recursion anywhere near
/// the input's nesting crashes the test.
fn refused_on_a_small_stack(body: String) -> String {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let src = format!("{HEAD}{body}");
            match parse_str("t.isa", &src) {
                Ok(_) => panic!("a body this deep should be refused"),
                Err(e @ IsaError::Source { .. }) => e.to_string(),
                Err(e) => panic!("expected a located error, got {e}"),
            }
        })
        .expect("spawn")
        .join()
        .expect("the parser must not overflow a small stack")
}

fn assert_depth_error(text: &str, line: u32) {
    assert!(
        text.starts_with(&format!("t.isa:{line}:")),
        "not located on line {line}: {text}"
    );
    assert!(
        text.contains(&format!("more than {MAX_DEPTH} levels deep")),
        "{text}"
    );
    assert!(text.contains("hint:"), "{text}");
}

#[test]
fn nested_parentheses() {
    let n = 2000;
    let body = format!(
        "insn x rrr 1 \"\" {{\n E[a] = {}1{}; }}\n",
        "(".repeat(n),
        ")".repeat(n)
    );
    assert_depth_error(&refused_on_a_small_stack(body), 4);
}

#[test]
fn nested_loads() {
    let n = 2000;
    let body = format!(
        "insn x rrr 1 \"\" {{\n E[a] = {}1{}; }}\n",
        "E[".repeat(n),
        "]".repeat(n)
    );
    assert_depth_error(&refused_on_a_small_stack(body), 4);
}

#[test]
fn nested_ifs() {
    let n = 2000;
    let body = format!(
        "insn x rrr 1 \"\" {{\n{} E[a] = 1; {}}}\n",
        "if E[b] == 0 { ".repeat(n),
        "} ".repeat(n)
    );
    assert_depth_error(&refused_on_a_small_stack(body), 4);
}

#[test]
fn else_if_chains() {
    let n = 2000;
    let body = format!(
        "insn x rrr 1 \"\" {{\n if E[b] == 0 {{ trap; }}{} }}\n",
        " else if E[b] == 1 { trap; }".repeat(n)
    );
    assert_depth_error(&refused_on_a_small_stack(body), 4);
}

#[test]
fn unary_chains() {
    let body = format!("insn x rrr 1 \"\" {{\n E[a] = {}1; }}\n", "-".repeat(2000));
    assert_depth_error(&refused_on_a_small_stack(body), 4);
}

#[test]
fn a_flat_sum_is_as_deep_as_it_is_long() {
    // `a + a + ... + a` parses without recursion but builds a left-deep tree, which every
    // later walk would recurse over.
    let terms = vec!["E[b]"; 20_000].join(" + ");
    let body = format!("insn x rrr 1 \"\" {{\n E[a] = {terms}; }}\n");
    assert_depth_error(&refused_on_a_small_stack(body), 4);
}

#[test]
fn the_limit_itself_is_accepted() {
    // MAX_DEPTH levels in all: the `if` is one, its condition's `==` one more, and the
    // parentheses the rest.
    let parens = MAX_DEPTH - 2;
    let ok = format!(
        "{HEAD}insn x rrr 1 \"\" {{ if {}E[b]{} == 0 {{ trap; }} }}\n",
        "(".repeat(parens - 1),
        ")".repeat(parens - 1)
    );
    parse_str("t.isa", &ok).unwrap_or_else(|e| panic!("{e}"));
    let deeper = format!(
        "insn x rrr 1 \"\" {{ if {}E[b]{} == 0 {{ trap; }} }}\n",
        "(".repeat(parens),
        ")".repeat(parens)
    );
    assert_depth_error(&refused_on_a_small_stack(deeper), 3);
}

#[test]
fn inherited_bodies_count_where_they_are_spliced() {
    // Each redefinition wraps the previous body in one more `if`: the chain is refused once
    // the total passes the limit, at the `inherited` that would pass it.
    let mut src = format!("{HEAD}insn x rrr 1 \"\" {{ E[a] = 1; }}\n");
    for _ in 0..MAX_DEPTH + 5 {
        src.push_str("redefine x rrr 1 \"\" { if E[b] == 0 { inherited; } }\n");
    }
    let err = parse_str("t.isa", &src).expect_err("too deep");
    assert!(
        err.to_string()
            .contains(&format!("more than {MAX_DEPTH} levels deep")),
        "{err}"
    );
}

#[test]
fn builtins_stay_far_below_the_limit() {
    for name in builtin_names() {
        let isa = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        for insn in &isa.insns {
            let d = visit::depth(&insn.body);
            assert!(
                d <= MAX_DEPTH / 4,
                "{name} {}: depth {d} is close to the limit {MAX_DEPTH}",
                insn.mnemonic
            );
        }
    }
}
