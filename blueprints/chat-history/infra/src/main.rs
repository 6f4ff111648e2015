//! `wsgen synth` runs this program: it describes the app and writes the templates.

fn main() {
    let app = wsgen::App::new();
    infra::build(&app);
    app.synth();
}
