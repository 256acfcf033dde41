package dev.joule.jobs.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

class JouleSparkTest {

  @Test
  void localCoresOfEachMasterForm() {
    assertEquals(1, JouleSpark.localCores("local"));
    assertEquals(2, JouleSpark.localCores("local[2]"));
    assertEquals(3, JouleSpark.localCores("local[3,4]"));
    assertEquals(Runtime.getRuntime().availableProcessors(), JouleSpark.localCores("local[*]"));
    assertEquals(0, JouleSpark.localCores("spark://127.0.0.1:7077"));
    assertEquals(0, JouleSpark.localCores("yarn"));
    assertEquals(0, JouleSpark.localCores("local-cluster[2,1,1024]"));
  }

  @Test
  void theNioLocalFileSystemsOnlyWhereNobodyChoseAnother() {
    String fs = "spark.hadoop.fs.file.impl";
    String afs = "spark.hadoop.fs.AbstractFileSystem.file.impl";
    Configuration hadoop = new Configuration(false);
    assertEquals(JouleSpark.LOCAL_FILE_SYSTEMS, JouleSpark.localFileSystems(new SparkConf(false), Map.of(), hadoop));
    hadoop.set("fs.AbstractFileSystem.file.impl", "org.apache.hadoop.fs.local.LocalFs"); // core-default.xml's
    assertEquals(JouleSpark.LOCAL_FILE_SYSTEMS, JouleSpark.localFileSystems(new SparkConf(false), Map.of(), hadoop));
    hadoop.set("fs.file.impl", "org.example.TheirFileSystem"); // core-site.xml
    assertEquals(Map.of(afs, JouleSpark.LOCAL_FILE_SYSTEMS.get(afs)),
        JouleSpark.localFileSystems(new SparkConf(false), Map.of(), hadoop));
    Configuration none = new Configuration(false);
    assertEquals(Map.of(fs, JouleSpark.LOCAL_FILE_SYSTEMS.get(fs)),
        JouleSpark.localFileSystems(new SparkConf(false).set(afs, "theirs"), Map.of(), none)); // spark-submit --conf
    assertEquals(Map.of(afs, JouleSpark.LOCAL_FILE_SYSTEMS.get(afs)),
        JouleSpark.localFileSystems(new SparkConf(false), Map.of(fs, "theirs"), none)); // joule's spark.conf
  }
}
