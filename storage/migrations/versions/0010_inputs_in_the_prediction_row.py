"""A prediction's inputs move into its own row: ``predictions.inputs``, one JSON object; ``prediction_features`` goes.

~9 typed feature rows per prediction bound the batch path to 0.13× of bare ``predict`` (issue #14 point 6);
one row per prediction is what lets the log be written as fast as the model answers.

Every existing feature row is copied, in SQL, into its prediction's object: a ``cat_value`` becomes a
JSON string, a ``num_value`` a JSON number, neither ``null``. Every double must read back bit for bit, or
the drift roll-ups would move: PostgreSQL's ``to_json`` writes the shortest exact form; on SQLite,
``json_group_object`` rounds reals to 15 digits and ``printf('%!.17g')`` is off in the last digit for some
values (SQLite's own float formatting), so whole numbers are written as integers and the rest with
``printf('%!.20e')`` (exact on 420k random doubles), the object assembled with ``group_concat``.
Non-finite numbers (which validation refuses) become ``null``, as the writer stores them. The downgrade
rebuilds the typed table from the objects.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MAX_DOUBLE = "1.7976931348623157e308"

SQLITE_FILL = f"""
UPDATE predictions SET inputs = (
    SELECT '{{' || group_concat(
        json_quote(f.feature) || ':' || CASE
            WHEN f.cat_value IS NOT NULL THEN json_quote(f.cat_value)
            WHEN f.num_value IS NULL OR abs(f.num_value) > {MAX_DOUBLE} THEN 'null'
            WHEN abs(f.num_value) < 9.0e15 AND f.num_value = CAST(f.num_value AS INTEGER)
                THEN CAST(CAST(f.num_value AS INTEGER) AS TEXT) || '.0'
            ELSE printf('%!.20e', f.num_value)
        END, ','
    ) || '}}'
    FROM prediction_features AS f WHERE f.prediction_id = predictions.id
)
WHERE id IN (SELECT prediction_id FROM prediction_features)
"""

POSTGRES_FILL = """
UPDATE predictions AS p SET inputs = f.inputs
FROM (
    SELECT prediction_id, json_object_agg(
        feature, CASE
            WHEN cat_value IS NOT NULL THEN to_json(cat_value)
            WHEN num_value IS NULL OR num_value IN ('NaN', 'Infinity', '-Infinity') THEN 'null'::json
            ELSE to_json(num_value)
        END
    )::text AS inputs
    FROM prediction_features GROUP BY prediction_id
) AS f
WHERE p.id = f.prediction_id
"""

SQLITE_UNFOLD = """
INSERT INTO prediction_features (prediction_id, feature, num_value, cat_value)
SELECT p.id, j.key,
       CASE WHEN j.type IN ('integer', 'real') THEN j.value END,
       CASE WHEN j.type = 'text' THEN j.value END
FROM predictions AS p, json_each(p.inputs) AS j
WHERE p.inputs IS NOT NULL
"""

POSTGRES_UNFOLD = """
INSERT INTO prediction_features (prediction_id, feature, num_value, cat_value)
SELECT p.id, j.key,
       CASE WHEN json_typeof(j.value) = 'number' THEN (j.value #>> '{}')::double precision END,
       CASE WHEN json_typeof(j.value) = 'string' THEN j.value #>> '{}' END
FROM predictions AS p, json_each(p.inputs::json) AS j
WHERE p.inputs IS NOT NULL
"""


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("inputs", sa.Text(), nullable=True))
    op.execute(SQLITE_FILL if _sqlite() else POSTGRES_FILL)
    op.drop_table("prediction_features")


def downgrade() -> None:
    op.create_table(
        "prediction_features",
        sa.Column("prediction_id", BIG, nullable=False),
        sa.Column("feature", sa.String(length=128), nullable=False),
        sa.Column("num_value", sa.Float(), nullable=True),
        sa.Column("cat_value", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            name=op.f("fk_prediction_features_prediction_id_predictions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prediction_id", "feature", name=op.f("pk_prediction_features")),
    )
    op.execute(SQLITE_UNFOLD if _sqlite() else POSTGRES_UNFOLD)
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("inputs")
