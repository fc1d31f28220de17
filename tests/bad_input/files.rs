//! Database files that are not (usable) SQLite databases, read-only database files, and
//! broken config files.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- SQLite files that are not (usable) databases ---------------------------------------
    let garbage = "this is not a SQLite database, just text. ".repeat(200);
    v.push(
        case(
            "garbage file: version",
            &[
                "--database-url",
                "sqlite:///{DIR}/garbage.sqlite",
                "db",
                "version",
            ],
        )
        .raw()
        .file("garbage.sqlite", &garbage)
        .err("file is not a database"),
    );
    v.push(
        case(
            "garbage file: sync",
            &[
                "--database-url",
                "sqlite:///{DIR}/garbage.sqlite",
                "db",
                "sync",
            ],
        )
        .raw()
        .file("garbage.sqlite", &garbage)
        .err("file is not a database"),
    );
    v.push(
        case(
            "garbage file: drift",
            &[
                "--database-url",
                "sqlite:///{DIR}/garbage.sqlite",
                "db",
                "drift",
            ],
        )
        .raw()
        .file("garbage.sqlite", &garbage)
        .code(2)
        .err("file is not a database"),
    );
    v.push(
        case(
            "sqlite path is a directory",
            &["--database-url", "sqlite:///{DIR}/adir", "db", "sync"],
        )
        .raw()
        .file("adir/keep", "x")
        .err("cannot connect to sqlite:///"),
    );
    v.push(
        case(
            "sqlite parent missing",
            &[
                "--database-url",
                "sqlite:///{DIR}/no/such/dir/x.sqlite",
                "db",
                "sync",
            ],
        )
        .raw()
        .err("cannot connect to sqlite:///"),
    );
    v.push(
        case(
            "drift on a missing file",
            &[
                "--database-url",
                "sqlite:///{DIR}/missing.sqlite",
                "db",
                "drift",
            ],
        )
        .raw()
        .code(2)
        .err("does not exist"),
    );

    // --- read-only database files -----------------------------------------------------------
    let ro = |name: &str, args: &[&str], dir_mode: u32, msg: &str| {
        let mut c = case(name, args).err(msg);
        c.target = Target::ReadOnly { dir_mode };
        c
    };
    v.push(ro(
        "read-only file and dir: sync",
        &["db", "sync"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file and dir: upgrade",
        &["db", "upgrade", "mitaka01"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file and dir: expand",
        &["db", "expand"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file and dir: version_control",
        &["db", "version_control", "--force", "mitaka01"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file, writable dir: sync",
        &["db", "sync"],
        0o777,
        "readonly",
    ));

    // --- config files -----------------------------------------------------------------------
    let cfg = |name: &str, content: &str, msg: &str| {
        case(
            &format!("config {name}"),
            &["--config-file", "{DIR}/glance-api.conf", "db", "version"],
        )
        .raw()
        .file("glance-api.conf", content)
        .err(msg)
    };
    v.push(
        case(
            "config missing",
            &["--config-file", "{DIR}/nope.conf", "db", "version"],
        )
        .raw()
        .err("cannot read config file"),
    );
    v.push(
        case(
            "config is a directory",
            &["--config-file", "{DIR}", "db", "version"],
        )
        .raw()
        .err("cannot read config file"),
    );
    v.push(
        case(
            "config not utf-8",
            &["--config-file", "{DIR}/bin.conf", "db", "version"],
        )
        .raw()
        .file("bin.conf", [0xff, 0xfe, 0x00, 0x5b, 0x80])
        .err("cannot read config file"),
    );
    v.push(cfg(
        "garbage line",
        "[database]\nthis line is garbage\n",
        "line 2: No ':' or '=' found in assignment",
    ));
    v.push(cfg(
        "value before any section",
        "connection = sqlite:////tmp/x.db\n[database]\n",
        "line 1: Section must be started before assignment",
    ));
    v.push(cfg(
        "unterminated section",
        "[database\nconnection = sqlite:////tmp/x.db\n",
        "line 1: Invalid section (must end with ])",
    ));
    v.push(cfg(
        "bad url",
        "[database]\nconnection = not-a-url\n",
        "invalid database URL (9 characters, not shown) from",
    ));
    v.push(cfg(
        "empty url",
        "[database]\nconnection =\n",
        "glance-api.conf:2 is empty",
    ));
    v.push(cfg(
        "unknown dialect",
        "[DEFAULT]\ndebug = true\n[database]\nconnection = db2://u:pw@h/glance\n",
        "unsupported database `db2`",
    ));
    v.push(cfg(
        "nul bytes",
        "[database]\n\0\0\0\n",
        "line 2: No ':' or '=' found in assignment",
    ));
    v.push(
        case(
            "config second file bad",
            &[
                "--config-file",
                "{DIR}/a.conf",
                "--config-file",
                "{DIR}/b.conf",
                "db",
                "version",
            ],
        )
        .raw()
        .file(
            "a.conf",
            "[database]\nconnection = sqlite:////tmp/gm-never-used.sqlite\n",
        )
        .file(
            "b.conf",
            "[database]\nconnection = mysql://u:pw@h:port/glance\n",
        )
        .err("invalid port `port`"),
    );
    v.push(
        case(
            "config without [database] connection fails like Glance",
            &["--config-file", "{DIR}/glance-api.conf", "db", "version"],
        )
        .raw()
        .file(
            "glance-api.conf",
            "[DEFAULT]\ndebug = true\n[glance_store]\nstores = file\n",
        )
        .err("[database] connection is not set in"),
    );
    v.push(
        case(
            "config points at a closed port",
            &["--config-file", "{DIR}/glance-api.conf", "db", "sync"],
        )
        .raw()
        .file(
            "glance-api.conf",
            "[database]\nconnection = mysql+pymysql://glance:pw@127.0.0.1:1/glance?charset=utf8\n",
        )
        .err("cannot connect to mysql://glance:***@127.0.0.1:1/glance"),
    );
}
