//! Hostile input and careless configuration: an empty secret in the file, control
//! characters in a feed's text, and a feed that redirects into the operator's network.

use crate::support::herald::Setup;

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_ops_token_in_the_file_is_a_configuration_error_naming_its_line() {
    let setup = Setup::new("[ops]\nlisten = \"0.0.0.0:9\"\ntoken = \"\"\n");
    let out = setup.run(&["check"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("herald.toml, line 3, key `token`: is empty"),
        "{}",
        out.stderr
    );
}
