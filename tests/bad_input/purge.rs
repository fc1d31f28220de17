//! Every bad `db purge` argument (glance-reference §1.3).

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- purge arguments (glance-reference §1.3) ------------------------------------------
    for cmd in ["purge", "purge_images_table"] {
        let p = |name: &str, extra: &[&str], code: i32, msg: &str| {
            let mut a = vec!["db", cmd];
            a.extend_from_slice(extra);
            case(&format!("{cmd} {name}"), &a).code(code).err(msg)
        };
        v.push(p(
            "abc",
            &["abc"],
            1,
            "Invalid int value for age_in_days: abc",
        ));
        v.push(p(
            "1.5",
            &["1.5"],
            1,
            "Invalid int value for age_in_days: 1.5",
        ));
        v.push(p(
            "-1",
            &["-1"],
            1,
            "Must supply a non-negative value for age.",
        ));
        v.push(p("1 -2", &["1", "-2"], 1, "Minimal rows limit is -1."));
        v.push(p(
            "1 2147483648",
            &["1", "2147483648"],
            1,
            "'max_rows' value out of range, must not exceed 2147483647.",
        ));
        v.push(p(
            "1 abc",
            &["1", "abc"],
            1,
            "Invalid int value for max_rows: abc",
        ));
        v.push(p(
            "age beyond epoch",
            &["100000"],
            1,
            "Maximal age is count of days since epoch.",
        ));
        v.push(p(
            "--age_in_days abc",
            &["--age_in_days", "abc"],
            2,
            "invalid int value: 'abc'",
        ));
        v.push(p(
            "--max_rows abc",
            &["--max_rows", "abc"],
            2,
            "invalid int value: 'abc'",
        ));
        v.push(p(
            "--age_in_days -1",
            &["--age_in_days", "-1"],
            1,
            "Must supply a non-negative value for age.",
        ));
        v.push(p(
            "--max_rows -2",
            &["--max_rows", "-2"],
            1,
            "Minimal rows limit is -1.",
        ));
        v.push(p(
            "--batch-size 0",
            &["--batch-size", "0"],
            2,
            "invalid value '0' for '--batch-size <N>'",
        ));
        v.push(p("1 2 3", &["1", "2", "3"], 2, "unexpected argument '3'"));
        v.push(p(
            "option and positional",
            &["--age_in_days", "1", "2"],
            2,
            "cannot be used with",
        ));
    }
    let p = |name: &str, extra: &[&str], code: i32, msg: &str| {
        let mut a = vec!["db", "purge"];
        a.extend_from_slice(extra);
        case(&format!("purge {name}"), &a).code(code).err(msg)
    };
    v.push(p(
        "empty age",
        &[""],
        1,
        "Invalid int value for age_in_days: ",
    ));
    v.push(p(
        "1__0",
        &["1__0"],
        1,
        "Invalid int value for age_in_days: 1__0",
    ));
    v.push(p(
        "0x10",
        &["0x10"],
        1,
        "Invalid int value for age_in_days: 0x10",
    ));
    v.push(p(
        "1e3",
        &["1e3"],
        1,
        "Invalid int value for age_in_days: 1e3",
    ));
    v.push(p(
        "huge age",
        &["9999999999999999999999999999999999999999999"],
        1,
        "Maximal age is count of days since epoch.",
    ));
    v.push(p(
        "huge max_rows",
        &["1", "99999999999999999999999999999999999999999999"],
        1,
        "'max_rows' value out of range",
    ));
    v.push(
        p(
            "--max_rows 2147483648",
            &["--max_rows", "2147483648"],
            1,
            "'max_rows' value out of range",
        )
        .servers(),
    );
    v.push(p(
        "--age_in_days 1.5",
        &["--age_in_days", "1.5"],
        2,
        "invalid int value: '1.5'",
    ));
    v.push(p(
        "--batch-size -5",
        &["--batch-size", "-5"],
        2,
        "--batch-size",
    ));
    v.push(p(
        "--batch-size abc",
        &["--batch-size", "abc"],
        2,
        "invalid value 'abc'",
    ));
    v.push(p(
        "--jobs 0",
        &["--jobs", "0"],
        2,
        "invalid value '0' for '--jobs <N>': 0 is not in 1..=64",
    ));
    v.push(p(
        "--jobs 65",
        &["--jobs", "65"],
        2,
        "invalid value '65' for '--jobs <N>'",
    ));
    v.push(p(
        "abc with --dry-run",
        &["abc", "--dry-run"],
        1,
        "Invalid int value for age_in_days: abc",
    ));
    v.push(
        p(
            "-1 as json",
            &["-1", "--format", "json"],
            1,
            "Must supply a non-negative value for age.",
        )
        .servers(),
    );
    v.push(
        p(
            "sql in age",
            &["1; DELETE FROM images"],
            1,
            "Invalid int value for age_in_days: 1; DELETE FROM images",
        )
        .servers(),
    );
}
