//! Unknown revisions and versions: `upgrade`, `plan`, `sync` and `version_control` to a
//! target that does not exist, predates Liberty, is from the future, is 5,000 characters long,
//! or would be a downgrade.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- unknown revisions and versions --------------------------------------------------
    let unknown = "unknown revision `nope`";
    v.push(
        case("upgrade nope", &["db", "upgrade", "nope"])
            .err(unknown)
            .servers(),
    );
    v.push(
        case("plan nope", &["db", "plan", "nope"])
            .err(unknown)
            .servers(),
    );
    v.push(case("sync nope", &["db", "sync", "nope"]).err(unknown));
    v.push(
        case(
            "upgrade --version nope",
            &["db", "upgrade", "--version", "nope"],
        )
        .err(unknown),
    );
    v.push(
        case("version_control nope", &["db", "version_control", "nope"])
            .err(unknown)
            .servers(),
    );
    v.push(case("sync typo suggests", &["db", "sync", "rocky_expnad01"]).err("`rocky_expand01`"));
    v.push(case("sync unknown current", &["db", "sync", "liberty", "nope"]).err(unknown));
    v.push(
        case(
            "sync unknown target legacy form",
            &["db", "sync", "nope", "liberty"],
        )
        .err(unknown),
    );
    let liberty_first = "Please upgrade to Liberty release first.";
    for n in ["41", "1", "12", "38"] {
        v.push(case(&format!("sync {n}"), &["db", "sync", n]).err(liberty_first));
    }
    v.push(
        case("upgrade 41", &["db", "upgrade", "41"])
            .err(liberty_first)
            .servers(),
    );
    v.push(case("plan 41", &["db", "plan", "41"]).err(liberty_first));
    v.push(case("version_control 41", &["db", "version_control", "41"]).err(liberty_first));
    for n in ["0", "46", "99999999999999999999", "4.2", "42abc"] {
        v.push(
            case(&format!("sync {n}"), &["db", "sync", n]).err(&format!("unknown revision `{n}`")),
        );
    }
    v.push(
        case("future revision", &["db", "upgrade", "2099_1_contract01"])
            .err("unknown revision `2099_1_contract01`"),
    );
    v.push(
        case(
            "sql in revision name",
            &["db", "upgrade", "liberty'; DROP TABLE images; --"],
        )
        .err("unknown revision `liberty'; DROP TABLE images; --`")
        .servers(),
    );
    v.push(
        case("unicode revision", &["db", "upgrade", "ŕevision✓"])
            .err("unknown revision `ŕevision✓`"),
    );
    let long = "x".repeat(5000);
    v.push(case("5000-char revision", &["db", "plan", &long]).err("unknown revision `xxxx"));
    let downgrade = "Downgrades are not supported";
    v.push(
        case("downgrade to liberty", &["db", "sync", "liberty"])
            .err(downgrade)
            .servers(),
    );
    v.push(case("downgrade upgrade mitaka02", &["db", "upgrade", "mitaka02"]).err(downgrade));
    v.push(case("downgrade legacy 43", &["db", "upgrade", "43"]).err(downgrade));
    v.push(
        case(
            "downgrade to the expand head",
            &["db", "upgrade", "2024_1_expand01"],
        )
        .err(downgrade),
    );
}
