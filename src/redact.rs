//! What Herald cuts out of texts it shows: secrets, chat ids. A platform's error may carry
//! the bot's token (in a request URL) or name the chat it came from, and such errors reach
//! logs, `/healthz` and the status page.

/// `text` with every occurrence of `secret` replaced by `<token>`; an empty secret leaves
/// the text as it is.
pub(crate) fn without_secret(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<token>")
    }
}

/// `text` with chat ids cut: Matrix room and user ids (`!room:server`, `@user:server`) to
/// their sigil, and numbers of seven digits or more (Telegram chat and user ids, with their
/// sign) to `…`. A platform's error may name the chat it came from, and a private
/// subscriber's is not shown.
pub(crate) fn without_chat_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['!', '@']) {
        out.push_str(&rest[..at]);
        let token = &rest[at..];
        let end = token[1..]
            .find(|c: char| c.is_whitespace() || "\"'(),;<>[]{}".contains(c))
            .map_or(token.len(), |i| i + 1);
        let (id, after) = token.split_at(end);
        if end > 2 && id[1..].contains(':') && !id[1..].starts_with(':') {
            out.push_str(&id[..1]);
            out.push('…');
        } else {
            out.push_str(id);
        }
        rest = after;
    }
    out.push_str(rest);
    without_long_numbers(&out)
}

/// `text` with every run of seven digits or more that stands alone (not inside a word) cut
/// to `…`, with a minus sign before it.
fn without_long_numbers(text: &str) -> String {
    const LONGEST_KEPT: usize = 6;
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((start, c)) = chars.next() {
        let in_word = previous.is_some_and(|p| p.is_alphanumeric() || p == '_');
        if !c.is_ascii_digit() || in_word {
            out.push(c);
            previous = Some(c);
            continue;
        }
        let mut end = start + 1;
        while let Some(&(i, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = i + 1;
            chars.next();
        }
        let next = chars.peek().map(|&(_, n)| n);
        let digits = &text[start..end];
        if digits.len() > LONGEST_KEPT && !next.is_some_and(|n| n.is_alphanumeric() || n == '_') {
            if out.ends_with('-') {
                out.pop();
            }
            out.push('…');
        } else {
            out.push_str(digits);
        }
        previous = digits.chars().last();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_cut_wherever_it_occurs() {
        let url = "https://api.telegram.org/bot123:ABC/sendMessage failed; bot123:ABC again";
        assert_eq!(
            without_secret(url, "123:ABC"),
            "https://api.telegram.org/bot<token>/sendMessage failed; bot<token> again"
        );
        assert_eq!(without_secret(url, ""), url);
        assert_eq!(
            without_secret("no secret here", "123:ABC"),
            "no secret here"
        );
    }

    #[test]
    fn platform_errors_shown_name_no_chat() {
        assert_eq!(
            without_chat_ids("M_FORBIDDEN: user @ann:example.org not in !AbC123:example.org."),
            "M_FORBIDDEN: user @… not in !…"
        );
        assert_eq!(
            without_chat_ids("Internal Server Error! (HTTP 500) mail@ x"),
            "Internal Server Error! (HTTP 500) mail@ x"
        );
        assert_eq!(
            without_chat_ids("telegram:-1001234567890: Forbidden: bot was kicked (chat 734512345)"),
            "telegram:…: Forbidden: bot was kicked (chat …)"
        );
        assert_eq!(
            without_chat_ids("HTTP 429 after 120000 ms; port 65535; v1.2.3; id abc1234567"),
            "HTTP 429 after 120000 ms; port 65535; v1.2.3; id abc1234567"
        );
    }
}
