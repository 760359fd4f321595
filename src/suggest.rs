//! "Did you mean": the known word closest to a misspelt one (a flag value, a
//! field name, a job-file key). Pure and small; it only shapes messages and
//! never changes what a job means.

/// The candidate closest to `word`, if it is near enough to be a typo:
/// at most one edit for words up to 4 characters, two up to 8, three beyond
/// (an edit is an insertion, deletion, substitution or swap of neighbours;
/// case is ignored). Ties go to the earlier candidate.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word: Vec<char> = word.to_lowercase().chars().collect();
    let limit = match word.len() {
        0 => return None,
        1..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let cand: Vec<char> = c.to_lowercase().chars().collect();
        if cand.len().abs_diff(word.len()) > limit {
            continue;
        }
        let d = edit_distance(&word, &cand);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean 'value'?"`, or nothing when no candidate is close.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(word, candidates) {
        Some(c) => format!("; did you mean '{c}'?"),
        None => String::new(),
    }
}

/// Optimal string alignment distance (Levenshtein plus adjacent swaps).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = v;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        assert_eq!(closest("fial", ["skip", "fail"]), Some("fail"));
        assert_eq!(closest("valeu", ["timestamp", "value"]), Some("value"));
        assert_eq!(closest("windwo", ["window", "slide"]), Some("window"));
        assert_eq!(closest("Value", ["value"]), Some("value"));
        assert_eq!(closest("jsnol", ["csv", "jsonl", "table"]), Some("jsonl"));
    }

    #[test]
    fn far_words_and_short_words_get_nothing() {
        assert_eq!(closest("report.csv", ["skip", "fail"]), None);
        assert_eq!(closest("bad.txt", ["skip", "fail"]), None);
        assert_eq!(closest("x", ["ts", "value"]), None);
        assert_eq!(closest("", ["a"]), None);
        assert_eq!(did_you_mean("zzz", ["value"]), "");
        assert_eq!(did_you_mean("vlaue", ["value"]), "; did you mean 'value'?");
    }

    #[test]
    fn the_closer_candidate_wins() {
        assert_eq!(closest("hots", ["hosts", "host"]), Some("hosts"));
        assert_eq!(closest("hostt", ["hosts", "host"]), Some("hosts"));
        assert_eq!(closest("metirc", ["metric", "metrics"]), Some("metric"));
    }
}
