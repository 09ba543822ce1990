package dev.ckptdiff.diff;

/**
 * A compute engine that lives in another module (the torch engine in native-bridge), found through
 * {@link java.util.ServiceLoader} so that core never links against native code.
 */
public interface EngineProvider {
    String name();

    /** @param device "cpu" or "gpu" */
    ComputeEngine create(String device);
}
