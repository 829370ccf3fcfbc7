//! Templates: what Meta said with the latest status (rejection reason and recommendation, pause or
//! disable details), and an index for status webhooks, which name the template by Meta's id.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_templates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table("templates").add_column(ColumnDef::new("status_details").json_binary().null()).take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_templates_tenant_meta_id")
                .table("templates")
                .col("tenant_id")
                .col("meta_template_id")
                .take(),
        )
        .await?;
        Ok(())
    }
}
