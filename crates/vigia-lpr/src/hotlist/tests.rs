use chrono::NaiveDate;

use super::*;

#[test]
fn header_in_any_order_semicolons_and_spanish_names() {
    let text =
        "Lista;Placa;Motivo;Observaciones\nrobados;abc-123;hurto;moto roja\npolicia; XYZ 98D ;;\n";
    let (h, errs) = Hotlist::parse_csv(text, "default", "robados.csv");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(h.len(), 2);
    let m = h.lookup("ABC123", 0.0);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].entry.list.as_ref(), "robados");
    assert_eq!(m[0].entry.category.as_deref(), Some("hurto"));
    assert_eq!(m[0].entry.notes.as_deref(), Some("moto roja"));
    assert_eq!(m[0].entry.entry_id, "robados.csv:2");
    assert_eq!(h.lookup("XYZ98D", 0.0)[0].entry.list.as_ref(), "policia");
}

#[test]
fn no_header_is_positional_and_bad_rows_are_reported_with_lines() {
    let text = "ABC123,stolen,vehicle theft\n\n,stolen\nAB#12,stolen\nDEF456\nTOOLONGPLATE123,x\n";
    let (h, errs) = Hotlist::parse_csv(text, "default", "f.csv");
    assert_eq!(h.len(), 2);
    assert_eq!(h.lookup("DEF456", 0.0)[0].entry.list.as_ref(), "default");
    let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 6], "{errs:?}");
    assert!(errs[1].message.contains("AB#12"));
}

#[test]
fn confusion_aware_distance() {
    assert_eq!(distance("ABC123", "ABC123"), 0.0);
    assert_eq!(distance("ABC123", "ABC12З".replace('З', "3").as_str()), 0.0);
    assert_eq!(distance("AB0123", "ABO123"), 0.5);
    assert_eq!(distance("8BC123", "BBC123"), 0.5);
    assert_eq!(distance("ABC123", "ABC124"), 1.0);
    assert_eq!(distance("ABC123", "ABC12"), 1.0);
    assert_eq!(distance("ABC123", "XYZ987"), 6.0);
}

#[test]
fn lookup_exact_then_fuzzy_sorted_by_distance() {
    let (h, _) = Hotlist::parse_csv(
        "plate,list\nEMK001,stolen\nEMK00I,stolen\nEMK007,wanted\nFDV094,stolen\n",
        "d",
        "f",
    );
    let m = h.lookup("EMK001", 1.0);
    let got: Vec<(&str, f32)> = m
        .iter()
        .map(|m| (m.entry.plate.as_str(), m.distance))
        .collect();
    assert_eq!(got, vec![("EMK001", 0.0), ("EMK00I", 0.5), ("EMK007", 1.0)]);
    assert_eq!(h.lookup("EMK001", 0.5).len(), 2);
    assert!(h.lookup("ZZZ999", 1.0).is_empty());
}

#[test]
fn merge_keeps_every_entry() {
    let (mut a, _) = Hotlist::parse_csv("ABC123,a", "d", "a");
    let (b, _) = Hotlist::parse_csv("ABC123,b\nXYZ789,b", "d", "b");
    a.merge(b);
    assert_eq!(a.len(), 3);
    assert_eq!(a.lookup("ABC123", 0.0).len(), 2);
}

fn source(format: HotlistFormat) -> HotlistSource {
    HotlistSource {
        format,
        ..HotlistSource::csv(std::path::Path::new("list.txt"))
    }
}

#[test]
fn genetec_delimited_files_take_their_columns_from_fields() {
    let src = HotlistSource {
        fields: ["Category", "PlateState", "PlateNumber", "ExpiryDate"]
            .map(String::from)
            .to_vec(),
        priority: Some(10),
        ..source(HotlistFormat::Genetec)
    };
    let text = "Hurto;ANT;ABC123;2027-01-31\nHurto;CUN;XYZ 98D;\nPlaca;ANT;;\nRobo;ANT;EFG456;31/01/2027\n";
    let (h, errs) = Hotlist::parse(text, &src, "robados", "robados.txt");
    assert_eq!(h.len(), 2);
    let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4], "{errs:?}");
    assert!(
        errs[1].message.contains("expiry date \"31/01/2027\""),
        "{errs:?}"
    );
    let e = &h.lookup("ABC123", 0.0)[0].entry;
    assert_eq!(e.category.as_deref(), Some("Hurto"));
    assert_eq!(e.state.as_deref(), Some("ANT"));
    assert_eq!(e.priority, Some(10));
    assert_eq!(e.expires, NaiveDate::from_ymd_opt(2027, 1, 31));
    assert_eq!(e.list.as_ref(), "robados");
    // Tab-delimited, with the tab spelled out.
    let tab = HotlistSource {
        delimiter: Some("tab".into()),
        ..src
    };
    let (h, errs) = Hotlist::parse("Hurto\tANT\tABC123\t\n", &tab, "l", "l.txt");
    assert!(errs.is_empty() && h.len() == 1, "{errs:?}");
}

#[test]
fn genetec_fixed_width_files_are_cut_at_1_based_positions() {
    let field = |name: &str, start, length| FixedField {
        name: name.into(),
        start,
        length,
    };
    let src = HotlistSource {
        fixed: vec![
            field("PlateState", 1, 3),
            field("PlateNumber", 4, 8),
            field("Category", 12, 10),
        ],
        ..source(HotlistFormat::Genetec)
    };
    let text = "ANTABC123  Hurto\nCUNXYZ98D  Robo de moto\n";
    let (h, errs) = Hotlist::parse(text, &src, "l", "l.txt");
    assert!(errs.is_empty(), "{errs:?}");
    let e = &h.lookup("XYZ98D", 0.0)[0].entry;
    assert_eq!(
        (e.state.as_deref(), e.category.as_deref()),
        (Some("CUN"), Some("Robo de mo"))
    );
    assert_eq!(h.lookup("ABC123", 0.0)[0].entry.entry_id, "l.txt:1");
}

#[test]
fn rekor_and_milestone_style_headers_and_priorities() {
    let rekor = "Plate Number,Description,Priority\nABC123,stolen Mazda,5\nDEF456,,150\n";
    let (h, errs) = Hotlist::parse_csv(rekor, "alerts", "alerts.csv");
    assert_eq!(h.len(), 1);
    assert!(errs[0].message.contains("priority \"150\""), "{errs:?}");
    let e = &h.lookup("ABC123", 0.0)[0].entry;
    assert_eq!(
        (e.notes.as_deref(), e.priority),
        (Some("stolen Mazda"), Some(5))
    );
    let milestone = "Registration number;Description;Valid until\nEMK001;ronda;2026-12-31\n";
    let (h, errs) = Hotlist::parse_csv(milestone, "match", "match.csv");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        h.lookup("EMK001", 0.0)[0].entry.expires,
        NaiveDate::from_ymd_opt(2026, 12, 31)
    );
}

#[test]
fn entries_are_hits_only_while_in_force_and_higher_priority_comes_first() {
    let text = "plate,list,priority,effective date,expiry date\n\
                ABC123,old,0,,2026-11-29\n\
                ABC123,later,0,2026-12-02,\n\
                ABC123,low,90,,\n\
                ABC123,high,1,2026-11-01,2026-12-31\n";
    let (h, errs) = Hotlist::parse_csv(text, "d", "f.csv");
    assert!(errs.is_empty(), "{errs:?}");
    let day = NaiveDate::from_ymd_opt(2026, 11, 30);
    let lists: Vec<String> = h
        .lookup_on("ABC123", 0.0, day)
        .iter()
        .map(|m| m.entry.list.to_string())
        .collect();
    assert_eq!(lists, ["high", "low"]);
    assert_eq!(h.lookup("ABC123", 0.0).len(), 4, "no day: every entry");
}

#[test]
fn the_index_finds_what_a_full_scan_finds() {
    // Random plates over a small alphabet rich in confusables, so near misses abound.
    let alphabet: Vec<char> = "AB0O8DQ1IL5SCE".chars().collect();
    let mut seed = 7u64;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let plate = |next: &mut dyn FnMut(usize) -> usize| -> String {
        let len = 4 + next(4);
        (0..len).map(|_| alphabet[next(alphabet.len())]).collect()
    };
    let mut h = Hotlist::default();
    for i in 0..3000 {
        let p = plate(&mut next);
        let (one, _) = Hotlist::parse_csv(&format!("{p},l{i}"), "d", "f");
        h.merge(one);
    }
    for _ in 0..400 {
        let q = plate(&mut next);
        for max in [0.0, 0.5, 1.0] {
            let key = |m: &HotlistMatch| (m.entry.entry_id.clone(), m.distance.to_bits());
            let mut a: Vec<_> = h.lookup(&q, max).iter().map(key).collect();
            let mut b: Vec<_> = h.lookup_scan(&q, max).iter().map(key).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{q} within {max}");
        }
    }
}

#[test]
fn priority_sets_the_alert_severity_and_the_hit_carries_the_entry() {
    let text = "plate,priority,state,expires\nAAA111,0,ANT,2027-01-31\nBBB222,50,,\nCCC333,67,,\nDDD444,,,\n";
    let (h, _) = Hotlist::parse_csv(text, "d", "f.csv");
    let severity = |p: &str| h.lookup(p, 0.0)[0].entry.alert_severity();
    assert_eq!(severity("AAA111"), Severity::High);
    assert_eq!(severity("BBB222"), Severity::Medium);
    assert_eq!(severity("CCC333"), Severity::Low);
    assert_eq!(severity("DDD444"), Severity::High);
    let info = HotlistInfo::from(&h.lookup("AAA111", 0.0)[0]);
    assert_eq!(
        (
            info.state.as_deref(),
            info.priority,
            info.expires.as_deref()
        ),
        (Some("ANT"), Some(0), Some("2027-01-31"))
    );
}
