//! Small helpers over `roxmltree` that match elements by local name: ONVIF devices use
//! every namespace prefix imaginable (`tt:`, `ns2:`, none) for the same elements.

use roxmltree::Node;

/// The first child element named `name` (local name).
pub(crate) fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// Every child element named `name`.
pub(crate) fn children<'a, 'i: 'a>(
    n: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The first descendant element named `name` (depth first).
pub(crate) fn find<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.descendants()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The trimmed text of the child `name`, if any and not empty.
pub(crate) fn child_text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).and_then(text)
}

/// The trimmed text of an element, if not empty.
pub(crate) fn text(n: Node<'_, '_>) -> Option<String> {
    let t: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `s` escaped for XML text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_match_whatever_the_prefix() {
        let doc = roxmltree::Document::parse(
            r#"<a xmlns:x="urn:x" xmlns:y="urn:y"><x:b> one </x:b><y:b>two</y:b><c><b>deep</b></c></a>"#,
        )
        .unwrap();
        let root = doc.root_element();
        assert_eq!(child_text(root, "b").as_deref(), Some("one"));
        assert_eq!(children(root, "b").count(), 2);
        assert_eq!(
            text(find(child(root, "c").unwrap(), "b").unwrap()).as_deref(),
            Some("deep")
        );
        assert_eq!(escape("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
    }
}
