//! "Did you mean" hints: the known names (directives, mnemonics, symbols) closest to a name
//! the assembler did not recognise.

/// Names close to `name` (by edit distance, ignoring case), formatted for a hint.
pub(super) fn similar<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let lower = name.to_lowercase();
    let limit = if lower.chars().count() <= 3 { 1 } else { 2 };
    let mut near: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = edit_distance(&lower, &c.to_lowercase());
            (d <= limit).then_some((d, c))
        })
        .collect();
    near.sort();
    near.truncate(5);
    near.iter()
        .map(|(_, c)| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            let del = prev[j + 1] + 1;
            let ins = cur[j] + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev[b.len()]
}
