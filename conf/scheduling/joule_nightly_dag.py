# Airflow DAG: nightly scoring on a Spark cluster through SparkSubmitOperator, with the
# joule-spark jar (Joule, Delta Lake and Arrow Flight; the cluster provides Spark 4.1) and the
# options `joule submit` passes: the line
#   bin/joule --conf /opt/joule/conf/nightly.conf submit --master spark://spark-master:7077 \
#     --print-only nightly --date DATE
# prints. The connection spark_default gives the master and deploy mode client (the driver runs on
# the Airflow worker, which needs /opt/joule). {{ ds }} is the night's date: a run starts once its
# day has ended. Checked against `joule submit` by SchedulingExamplesTest, not run by the tests.
# Exit code 5 (concurrent run) fails the task; retry it.
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

JAR = "/opt/joule/dist/target/joule-spark-0.1.0-SNAPSHOT-all.jar"
CONF = "/opt/joule/conf/nightly.conf"
# The Vector API module for the driver and the executors (without it the kernels run scalar code).
JAVA_OPTIONS = "-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector"

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
        application=JAR,
        java_class="dev.joule.jobs.Main",
        name="joule nightly",
        files=CONF,
        conf={"spark.driver.extraJavaOptions": JAVA_OPTIONS,
              "spark.executor.extraJavaOptions": JAVA_OPTIONS},
        application_args=["--conf", CONF, "nightly", "--date", "{{ ds }}"],
    )
