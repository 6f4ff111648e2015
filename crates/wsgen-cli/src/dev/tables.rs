//! Where the app's tables live: the embedded DynamoDB (dynoxide, data under
//! `wsgen.out/dev/dynamodb/`), an external endpoint (`--dynamodb-endpoint`), or none.

use super::*;

/// Where the app's tables live.
pub(super) enum Tables {
    None,
    Embedded(dynamodb::Embedded),
    External(String),
}

impl Tables {
    pub(super) async fn ensure(&self, ui: &Ui, tables: &[model::DevTable]) -> Result<(), CliError> {
        match self {
            Tables::None => Ok(()),
            Tables::External(endpoint) => ensure_tables(endpoint, tables).await,
            Tables::Embedded(db) => db.ensure(ui, tables),
        }
    }
}

/// Starts the embedded DynamoDB (data under `wsgen.out/dev/dynamodb/`); returns it and
/// its endpoint URL.
pub(super) async fn embedded_dynamodb(
    opts: &DevOptions,
    ui: &Ui,
    out: &Path,
) -> Result<(dynamodb::Embedded, String), CliError> {
    let dir = out.join("dev").join("dynamodb");
    if let Some(aside) = dynamodb::move_old_engine_data(&dir)? {
        ui.warn(&format!(
            "wsgen dev's local DynamoDB is now dynoxide: the data of its old engine is in {} (snapshot.json and wal.jsonl, items in DynamoDB JSON), and the tables start empty",
            aside.display()
        ));
    }
    let db = dynamodb::Embedded::start(&dir, opts.dynamodb_port).await?;
    let endpoint = db.endpoint.clone();
    if !opts.json {
        ui.info(&format!(
            "DynamoDB (embedded dynoxide, data in {}): {endpoint}",
            dir.join(dynamodb::DATA_FILE).display()
        ));
    }
    Ok((db, endpoint))
}

/// Creates the app's tables in the DynamoDB endpoint when they are missing.
pub(super) async fn ensure_tables(
    endpoint: &str,
    tables: &[model::DevTable],
) -> Result<(), CliError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::cloud::aws::https_client())
        .region(aws_config::Region::new(model::LOCAL_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "local",
            "local",
            None,
            None,
            "wsgen-dev",
        ))
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let existing = ddb.list_tables().send().await.map_err(|e| {
        crate::cloud::aws::aws_error(endpoint, "list the tables of the DynamoDB endpoint", e)
    })?;
    let keys = |schema: &[wsgen::cfn::resources::KeySchema]| -> Vec<KeySchemaElement> {
        schema
            .iter()
            .filter_map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(&k.attribute_name)
                    .key_type(KeyType::from(k.key_type.as_str()))
                    .build()
                    .ok()
            })
            .collect()
    };
    for t in tables {
        if existing.table_names().contains(&t.name) {
            continue;
        }
        let p = &t.properties;
        let attributes = p
            .attribute_definitions
            .iter()
            .filter_map(|a| {
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .ok()
            })
            .collect();
        let indexes: Vec<GlobalSecondaryIndex> = p
            .global_secondary_indexes
            .iter()
            .filter_map(|g| {
                let projection = &g.projection;
                GlobalSecondaryIndex::builder()
                    .index_name(&g.index_name)
                    .set_key_schema(Some(keys(&g.key_schema)))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                match projection.projection_type.as_str() {
                                    "" => "ALL",
                                    other => other,
                                },
                            ))
                            .set_non_key_attributes(
                                (!projection.non_key_attributes.is_empty())
                                    .then(|| projection.non_key_attributes.clone()),
                            )
                            .build(),
                    )
                    .build()
                    .ok()
            })
            .collect();
        ddb.create_table()
            .table_name(&t.name)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys(&p.key_schema)))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| {
                crate::cloud::aws::aws_error(endpoint, &format!("create table {}", t.name), e)
            })?;
    }
    Ok(())
}
