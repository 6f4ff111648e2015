//! The app synthesizes, and has the routes the clients expect.

#[test]
fn the_app_has_its_routes() {
    let app = wsgen::App::at(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    infra::build(&app, "{{Name}}");
    let assembly = app.assemble().expect("the app is valid");
    let template = serde_json::to_value(&assembly.templates["{{Name}}"]).unwrap();
    let mut routes: Vec<&str> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ApiGatewayV2::Route")
        .filter_map(|r| r["Properties"]["RouteKey"].as_str())
        .collect();
    routes.sort();
    assert_eq!(routes, {{routes}});
}
