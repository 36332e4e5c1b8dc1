/* Stand-in libnvidia-ml.so.1: the NVML functions hydra_os.node.gpu.NvmlProbe calls (through
 * pynvml), with GPUs read from the file named by $HYDRA_STANDIN_NVML_FILE on every call, one GPU per
 * line: "<name> <total_mib> <free_mib>". No variable or no file: NVML_ERROR_DRIVER_NOT_LOADED, like
 * a machine without the NVIDIA driver. Built by the tests with gcc -shared -fPIC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define MAX_GPUS 16

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { char name[96]; unsigned long long total_mib, free_mib; } gpu_t;

static int load(gpu_t *gpus, unsigned int *count) {
    const char *path = getenv("HYDRA_STANDIN_NVML_FILE");
    *count = 0;
    if (!path) return NVML_ERROR_DRIVER_NOT_LOADED;
    FILE *f = fopen(path, "r");
    if (!f) return NVML_ERROR_DRIVER_NOT_LOADED;
    while (*count < MAX_GPUS &&
           fscanf(f, "%95s %llu %llu", gpus[*count].name, &gpus[*count].total_mib, &gpus[*count].free_mib) == 3)
        (*count)++;
    fclose(f);
    return NVML_SUCCESS;
}

static int get(void *handle, gpu_t *out) {
    gpu_t gpus[MAX_GPUS];
    unsigned int n;
    int rc = load(gpus, &n);
    if (rc) return rc;
    unsigned long idx = (unsigned long)handle;
    if (idx < 1 || idx > n) return NVML_ERROR_INVALID_ARGUMENT;
    *out = gpus[idx - 1];
    return NVML_SUCCESS;
}

int nvmlInitWithFlags(unsigned int flags) { gpu_t g[MAX_GPUS]; unsigned int n; (void)flags; return load(g, &n); }
int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlShutdown(void) { return NVML_SUCCESS; }

const char *nvmlErrorString(int result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    default: return "Unknown Error";
    }
}

int nvmlDeviceGetCount_v2(unsigned int *count) {
    gpu_t g[MAX_GPUS];
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    return load(g, count);
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device) {
    gpu_t g[MAX_GPUS];
    unsigned int n;
    int rc = load(g, &n);
    if (rc) return rc;
    if (index >= n || !device) return NVML_ERROR_INVALID_ARGUMENT;
    *device = (void *)(unsigned long)(index + 1);
    return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(void *device, nvmlMemory_t *mem) {
    gpu_t g;
    int rc = get(device, &g);
    if (rc) return rc;
    mem->total = g.total_mib * 1024ULL * 1024ULL;
    mem->free = g.free_mib * 1024ULL * 1024ULL;
    mem->used = mem->total - mem->free;
    return NVML_SUCCESS;
}

int nvmlDeviceGetName(void *device, char *name, unsigned int length) {
    gpu_t g;
    int rc = get(device, &g);
    if (rc) return rc;
    if (strlen(g.name) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(name, g.name);
    return NVML_SUCCESS;
}

int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length) {
    gpu_t g;
    int rc = get(device, &g);
    if (rc) return rc;
    return snprintf(uuid, length, "GPU-standin-%04lu", (unsigned long)device) < (int)length
               ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
}

int nvmlDeviceGetUtilizationRates(void *device, nvmlUtilization_t *util) {
    gpu_t g;
    int rc = get(device, &g);
    if (rc) return rc;
    util->gpu = 0;
    util->memory = (unsigned int)(100 * (g.total_mib - g.free_mib) / (g.total_mib ? g.total_mib : 1));
    return NVML_SUCCESS;
}

int nvmlDeviceGetTemperature(void *device, int sensor, unsigned int *temp) {
    gpu_t g;
    (void)sensor;
    int rc = get(device, &g);
    if (rc) return rc;
    *temp = 40;
    return NVML_SUCCESS;
}
