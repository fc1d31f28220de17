//! Bad database URLs, unreachable servers, wrong credentials and missing databases.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- bad URLs ---------------------------------------------------------------------------
    let url = |name: &str, u: &str, msg: &str| {
        case(
            &format!("url {name}"),
            &["--database-url", u, "db", "version"],
        )
        .raw()
        .err(msg)
    };
    v.push(url("no scheme", "127.0.0.1/glance", "missing `://`"));
    // Not echoed (it may be a password typed in the wrong place): only its length.
    v.push(url(
        "bare word",
        "glance",
        "invalid database URL (6 characters, not shown) from --database-url: missing `://`",
    ));
    v.push(url("empty", "", "from --database-url is empty"));
    v.push(url("blank", "   ", "from --database-url is empty"));
    v.push(url(
        "sqlite without slashes",
        "sqlite:relative.db",
        "missing `://`",
    ));
    v.push(url(
        "sqlite two slashes",
        "sqlite://relative.db",
        "a SQLite URL is sqlite:///relative/path",
    ));
    v.push(url(
        "oracle",
        "oracle://u:p@h/db",
        "unsupported database `oracle`",
    ));
    v.push(url(
        "mssql",
        "mssql+pyodbc://u:p@h/db",
        "unsupported database `mssql`",
    ));
    v.push(url(
        "http",
        "http://example.com/db",
        "unsupported database `http`",
    ));
    v.push(url(
        "unicode scheme",
        "ünicode://h/db",
        "unsupported database",
    ));
    v.push(url(
        "port too big",
        "mysql://u:pw@h:99999/db",
        "invalid port `99999`",
    ));
    v.push(url(
        "port not a number",
        "mysql://u:pw@h:abc/db",
        "invalid port `abc`",
    ));
    v.push(url(
        "negative port",
        "postgresql://u@h:-1/db",
        "invalid port `-1`",
    ));
    v.push(url("no database", "mysql://u:pw@h/", "no database name"));
    v.push(url(
        "no path",
        "mysql+pymysql://u:p@h:3306",
        "no database name",
    ));
    v.push(url("only scheme", "postgresql://", "no database name"));
    v.push(url("only slash", "postgresql:///", "no database name"));
    v.push(url(
        "unterminated ipv6",
        "mysql://root@[::1/db",
        "unterminated IPv6 address",
    ));
    v.push(url(
        "text after ipv6",
        "mysql://root@[::1]x/db",
        "unexpected text after IPv6 address",
    ));

    // --- unreachable servers, wrong credentials, missing databases --------------------------
    let closed_my = "mysql+pymysql://root:pw@127.0.0.1:1/glance";
    let closed_pg = "postgresql://postgres@127.0.0.1:1/glance";
    for (cmd, code) in [
        (&["db", "version"][..], 1),
        (&["db", "sync"][..], 1),
        (&["db", "upgrade", "mitaka01"][..], 1),
        (&["db", "check"][..], 1),
        (&["db", "plan"][..], 1),
        (&["db", "drift"][..], 2),
        (&["db", "purge"][..], 1),
        (&["db", "purge_images_table"][..], 1),
        (&["db", "version_control"][..], 1),
        (&["db", "expand"][..], 1),
        (&["db", "migrate"][..], 1),
        (&["db", "contract"][..], 1),
    ] {
        let mut a = vec!["--database-url", closed_my];
        a.extend_from_slice(cmd);
        v.push(
            case(&format!("closed mysql port: {}", cmd[1]), &a)
                .raw()
                .code(code)
                .err("cannot connect to mysql://root:***@127.0.0.1:1/glance"),
        );
    }
    for (cmd, code) in [
        (&["db", "version"][..], 1),
        (&["db", "sync"][..], 1),
        (&["db", "drift"][..], 2),
    ] {
        let mut a = vec!["--database-url", closed_pg];
        a.extend_from_slice(cmd);
        v.push(
            case(&format!("closed postgres port: {}", cmd[1]), &a)
                .raw()
                .code(code)
                .err("cannot connect to postgresql://postgres@127.0.0.1:1/glance"),
        );
    }
    let pg_user = "postgresql://nosuch:wrongpw@127.0.0.1/postgres";
    let my_pw = "mysql://root:wrongpw@127.0.0.1:3306/mysql";
    for cmd in ["version", "sync"] {
        v.push(
            case(
                &format!("unknown postgres role: {cmd}"),
                &["--database-url", pg_user, "db", cmd],
            )
            .raw()
            .err("role \"nosuch\" does not exist"),
        );
        v.push(
            case(
                &format!("wrong mysql password: {cmd}"),
                &["--database-url", my_pw, "db", cmd],
            )
            .raw()
            .err("Access denied for user 'root'"),
        );
    }
    v.push(
        case(
            "missing postgres database",
            &[
                "--database-url",
                "postgresql://postgres@127.0.0.1/gm_no_such_db",
                "db",
                "sync",
            ],
        )
        .raw()
        .err("database \"gm_no_such_db\" does not exist"),
    );
    v.push(
        case(
            "missing mysql database",
            &[
                "--database-url",
                "mysql://root@127.0.0.1:3306/gm_no_such_db",
                "db",
                "sync",
            ],
        )
        .raw()
        .err("Unknown database 'gm_no_such_db'"),
    );
    v.push(
        case(
            "unresolvable host",
            &[
                "--database-url",
                "mysql://root@gm-no-such-host.invalid/x",
                "db",
                "version",
            ],
        )
        .raw()
        .err("cannot connect to mysql://root@gm-no-such-host.invalid/x"),
    );
}
