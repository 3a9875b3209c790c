-- CreateTable
CREATE TABLE "user_favorites" (
    "user_id" INTEGER NOT NULL,
    "ad_id" INTEGER NOT NULL,

    PRIMARY KEY ("user_id", "ad_id")
);
