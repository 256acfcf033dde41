# Airflow DAG: nightly scoring on a Spark cluster through SparkSubmitOperator.
# The jobs jar and conf are shipped with spark-submit; {{ ds }} is the night's date.
# Documented, not run by the tests. Exit code 5 (concurrent run) fails the task; retry it.
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

with DAG(
    dag_id="joule_nightly",
    start_date=datetime(2026, 11, 1),
    schedule="15 2 * * *",
    catchup=True,            # backfills missed nights in order
    max_active_runs=1,       # one night at a time: nights depend on the previous one
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
) as dag:
    SparkSubmitOperator(
        task_id="score_night",
        conn_id="spark_default",
        application="/opt/joule/jobs/target/jobs-0.1.0-SNAPSHOT.jar",
        java_class="dev.joule.jobs.Main",
        files="/opt/joule/conf/nightly.conf",
        application_args=["nightly", "--conf", "nightly.conf", "--date", "{{ ds }}"],
        conf={"spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
              "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog"},
    )
