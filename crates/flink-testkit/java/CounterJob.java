package flinkops.example;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiter;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The example job of flink-ops' tests: a keyed counter fed by a generator.
 *
 * Each key's count lives in keyed ValueState, so a job restored from a
 * savepoint continues counting where the old one stopped. The highest count
 * a subtask has seen is exported as the gauge "maxCount", readable through
 * the REST API. Arguments: --name NAME (job name; without it, execute() takes
 * pipeline.name, which flink-deploy sets to --job-name), --rate N (records/s;
 * anything else makes main() throw: a bad argument), --rate-file PATH (the
 * job's records per second, read from the file about twice a second, so a
 * test steps the load without a redeploy; --rate while the file is
 * unreadable), --work-us N (the counter spins N microseconds of CPU per
 * record: a cost that saturates a subtask at about 1e6/N records/s), --keys N
 * (how many keys the counter counts, 4 by default; more spread a rescaled
 * counter's load evenly over its subtasks).
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
        String rateFile = null;
        long workMicros = 0;
        long keyCount = 4;
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (args[i].equals("--name")) name = args[i + 1];
            else if (args[i].equals("--rate")) rate = parseRate(args[i + 1]);
            else if (args[i].equals("--rate-file")) rateFile = args[i + 1];
            else if (args[i].equals("--work-us")) workMicros = Long.parseLong(args[i + 1]);
            else if (args[i].equals("--keys")) keyCount = Long.parseLong(args[i + 1]);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (VARIANT.equals("self-named")) name = "self-named-example";
        if (VARIANT.equals("renames-at-run") && name != null
                && !env.getClass().getSimpleName().equals("StreamPlanEnvironment")) {
            // The job graph of /jars/{id}/plan has the name; the job that runs does not.
            name = name + "-at-run";
        }
        env.enableCheckpointing(1000);
        final long keys = keyCount;
        final long fixedRate = rate;
        final String ratePath = rateFile;
        RateLimiterStrategy limits = ratePath == null
                ? RateLimiterStrategy.perSecond(rate)
                : parallelism -> new FileRateLimiter(ratePath, fixedRate, parallelism);
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                index -> index, Long.MAX_VALUE, limits, Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "source")
                .uid("source")
                .keyBy(value -> value % keys)
                .process(new Counter(workMicros))
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

    /**
     * Permits at the job-wide rate in a file, shared evenly by the source's subtasks. Implements
     * both acquire() (Flink 1.x) and acquire(int) (2.x); a permit not yet due completes later on
     * a timer, so a throttled source is idle, not busy.
     */
    @SuppressWarnings("rawtypes")
    static class FileRateLimiter implements RateLimiter {
        private final String path;
        private final long fallback;
        private final int parallelism;
        private transient ScheduledExecutorService timer;
        private double perSecond;
        private long readAt;
        private long nextAt;

        FileRateLimiter(String path, long fallback, int parallelism) {
            this.path = path;
            this.fallback = fallback;
            this.parallelism = Math.max(1, parallelism);
        }

        private double rate(long now) {
            if (readAt == 0 || now - readAt > 500_000_000L) {
                readAt = now;
                try {
                    String text = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8).trim();
                    perSecond = Math.max(1.0, Double.parseDouble(text));
                } catch (Exception e) {
                    perSecond = fallback;
                }
            }
            return perSecond / parallelism;
        }

        public CompletionStage<Void> acquire() {
            return acquire(1);
        }

        public CompletionStage<Void> acquire(int requestSize) {
            long now = System.nanoTime();
            long interval = (long) (1e9 * Math.max(1, requestSize) / rate(now));
            // Never bank more than a second of unused permits (a step down takes effect at once).
            nextAt = Math.max(nextAt, now - 1_000_000_000L) + interval;
            long delay = nextAt - now;
            if (delay <= 0) return CompletableFuture.completedFuture(null);
            if (timer == null) {
                timer = Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread t = new Thread(r, "file-rate-limiter");
                    t.setDaemon(true);
                    return t;
                });
            }
            CompletableFuture<Void> permit = new CompletableFuture<>();
            timer.schedule(() -> permit.complete(null), delay, TimeUnit.NANOSECONDS);
            return permit;
        }
    }

    static class Counter extends KeyedProcessFunction<Long, Long, Long> {
        private final long workMicros;
        private transient ValueState<Long> count;
        private transient volatile long maxCount;
        private transient long openedAt;

        Counter(long workMicros) {
            this.workMicros = workMicros;
        }

        /** Burns CPU for the configured time: a cost per record that stays busy time. */
        private void work() {
            if (workMicros <= 0) return;
            long until = System.nanoTime() + workMicros * 1000;
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
        }

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
            work();
            Long current = count.value();
            long next = (current == null ? 0 : current) + 1;
            count.update(next);
            if (next > maxCount) maxCount = next;
            out.collect(next);
        }
    }
}
