# Two-stage ("mini FOTA") upgrade for small-flash ASR modules: stage one installs a small
# recovery system, which then fetches the full stage-two image. No callback in this mode.
import fota
import utime

STAGE1_URL = "http://127.0.0.1:8080/stage1.fota"
STAGE2_URL = "http://127.0.0.1:8080/stage2.fota"

updater = fota()
ret = updater.httpDownload(url1=STAGE1_URL, url2=STAGE2_URL)
print("mini fota started:", ret)
if ret == 0:
    for _ in range(120):
        utime.sleep(1)
