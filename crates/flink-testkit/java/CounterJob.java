package flinkops.example;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The example job of flink-ops' tests: a keyed counter fed by a generator.
 *
 * Each key's count lives in keyed ValueState, so a job restored from a
 * savepoint continues counting where the old one stopped. The highest count
 * a subtask has seen is exported as the gauge "maxCount", readable through
 * the REST API. Arguments: --name NAME (job name; without it, execute() takes
 * pipeline.name, which flink-deploy sets to --job-name), --rate N (records/s;
 * anything else makes main() throw: a bad argument).
 *
 * VARIANT is replaced when the jar is built: "normal"; "broken" throws on
 * its first record (a bad release); "incompatible" renames the counter's
 * uid, so its state cannot be restored without allowNonRestoredState;
 * "self-named" names its job "self-named-example" whatever it is given;
 * "renames-at-run" appends "-at-run" to --name when it really runs (not when
 * Flink only builds its graph); "missing-main" is built with a Main-Class
 * that is not in the jar; "fails-once" throws in its first attempt (attempt
 * number 0) on the first record it gets 8 s or more after it opened, and
 * runs normally in every later attempt: a failure the job recovers from.
 */
public class CounterJob {
    static final String VARIANT = "@VARIANT@";

    public static void main(String[] args) throws Exception {
        String name = null;
        long rate = 20;
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (args[i].equals("--name")) name = args[i + 1];
            else if (args[i].equals("--rate")) rate = parseRate(args[i + 1]);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (VARIANT.equals("self-named")) name = "self-named-example";
        if (VARIANT.equals("renames-at-run") && name != null
                && !env.getClass().getSimpleName().equals("StreamPlanEnvironment")) {
            // The job graph of /jars/{id}/plan has the name; the job that runs does not.
            name = name + "-at-run";
        }
        env.enableCheckpointing(1000);
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                index -> index, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "source")
                .uid("source")
                .keyBy(value -> value % 4)
                .process(new Counter())
                .uid(VARIANT.equals("incompatible") ? "counter-v2" : "counter")
                .name("counter");
        // Without --name, execute() names the job from pipeline.name (flink-deploy sets it).
        if (name == null) env.execute();
        else env.execute(name);
    }

    static long parseRate(String value) {
        try {
            long rate = Long.parseLong(value);
            if (rate > 0) return rate;
        } catch (NumberFormatException e) {
            // Not chained: the message is the cause a person reads.
            throw new IllegalArgumentException("--rate must be a positive number of records per second, not '" + value + "'");
        }
        throw new IllegalArgumentException("--rate must be a positive number of records per second, not '" + value + "'");
    }

    static class Counter extends KeyedProcessFunction<Long, Long, Long> {
        private transient ValueState<Long> count;
        private transient volatile long maxCount;
        private transient long openedAt;

        @Override
        public void open(OpenContext context) {
            openedAt = System.currentTimeMillis();
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            getRuntimeContext().getMetricGroup().gauge("maxCount", (Gauge<Long>) () -> maxCount);
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<Long> out) throws Exception {
            if (VARIANT.equals("broken")) {
                throw new IllegalStateException("broken release: fails on its first record");
            }
            if (VARIANT.equals("fails-once")
                    && getRuntimeContext().getTaskInfo().getAttemptNumber() == 0
                    && System.currentTimeMillis() - openedAt >= 8000) {
                throw new IllegalStateException("fails once: attempt 0 fails 8 s after it opened");
            }
            Long current = count.value();
            long next = (current == null ? 0 : current) + 1;
            count.update(next);
            if (next > maxCount) maxCount = next;
            out.collect(next);
        }
    }
}
