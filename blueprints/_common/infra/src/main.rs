//! `wsgen synth` runs this program: it describes the app and writes the templates.

/// The stack's name (the project's, by default).
const STACK: &str = "{{Name}}";

fn main() {
    let app = wsgen::App::new();
    infra::build(&app, STACK);
    app.synth();
}
