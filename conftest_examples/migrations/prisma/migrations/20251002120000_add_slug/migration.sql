-- AlterTable
ALTER TABLE "ads" ADD COLUMN "slug" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "ads_slug_key" ON "ads"("slug");
